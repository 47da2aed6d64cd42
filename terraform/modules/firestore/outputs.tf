output "database" {
  description = "Name of the Firestore database."
  value       = google_firestore_database.default.name
}

output "message_index" {
  description = "Id of the messages (role ASC, seq DESC) composite index."
  value       = google_firestore_index.messages_role_seq.id
}
