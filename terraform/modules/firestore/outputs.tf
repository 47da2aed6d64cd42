output "database" {
  description = "Name of the Firestore database."
  value       = google_firestore_database.default.name
}

output "message_index" {
  description = "Id of the messages (role ASC, seq DESC) composite index."
  value       = google_firestore_index.messages_role_seq.id
}

output "history_index" {
  description = "Id of the messages (role ASC, seq ASC) composite index that pages a session's history."
  value       = google_firestore_index.messages_role_seq_ascending.id
}

output "session_jobs_index" {
  description = "Id of the jobs (session_id ASC, seq DESC) composite index that finds a session's newest jobs."
  value       = google_firestore_index.jobs_session_seq.id
}
