"""One module per upload format; ``convoinsight.datasets.readers`` is the public entry point.

Every reader takes the uploaded bytes and returns a Polars DataFrame whose column
names are the file's own header labels (made unique), or raises one of the
project's errors with a code and a message a business user can act on.
"""
