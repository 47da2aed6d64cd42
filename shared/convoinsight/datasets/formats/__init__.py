"""One module per upload format; ``convoinsight.datasets.readers`` is the public entry point.

Every reader takes the uploaded file (a path: readers stream from it where the format allows) and
writes the dataset's canonical Parquet file, whose column names are SQL identifiers derived from
the file's own header labels (made unique), or raises one of the project's errors with a code and
a message a business user can act on.
"""
