# The document store of cloud mode: the (default) database in native mode, plus the composite indexes the
# queries of convoinsight.storage.firestore_documents need (the emulator needs none, so tests cannot catch one
# missing: this file is the list).

resource "google_firestore_database" "default" {
  project                 = var.project_id
  name                    = "(default)"
  location_id             = var.location
  type                    = "FIRESTORE_NATIVE"
  concurrency_mode        = "OPTIMISTIC"
  delete_protection_state = var.deletion_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  deletion_policy         = var.deletion_protection ? "ABANDON" : "DELETE"
}

# messages: where role == ... order by seq desc (a session's last messages of one role). Every session has its
# own messages sub-collection, queried as a collection (client.collection(path)): a COLLECTION-scope index on
# the collection id "messages" serves all of them, whatever the parent; a COLLECTION_GROUP index would serve only
# collection-group queries, which the code does not make.
resource "google_firestore_index" "messages_role_seq" {
  project     = var.project_id
  database    = google_firestore_database.default.name
  collection  = "messages"
  query_scope = "COLLECTION"

  fields {
    field_path = "role"
    order      = "ASCENDING"
  }

  fields {
    field_path = "seq"
    order      = "DESCENDING"
  }
}

# messages: where role == "assistant" order by seq asc, then by document id (a session's history, paged with a
# (seq, id) cursor by convoinsight.sessions.history).
resource "google_firestore_index" "messages_role_seq_ascending" {
  project     = var.project_id
  database    = google_firestore_database.default.name
  collection  = "messages"
  query_scope = "COLLECTION"

  fields {
    field_path = "role"
    order      = "ASCENDING"
  }

  fields {
    field_path = "seq"
    order      = "ASCENDING"
  }
}

# jobs: where session_id == ... order by seq desc, paged with a (seq, id) cursor (a session's newest jobs: the
# original API's POST /api/v1/queries/{session_id}/cancel, convoinsight.jobs.store.recent_session_jobs).
resource "google_firestore_index" "jobs_session_seq" {
  project     = var.project_id
  database    = google_firestore_database.default.name
  collection  = "jobs"
  query_scope = "COLLECTION"

  fields {
    field_path = "session_id"
    order      = "ASCENDING"
  }

  fields {
    field_path = "seq"
    order      = "DESCENDING"
  }
}
