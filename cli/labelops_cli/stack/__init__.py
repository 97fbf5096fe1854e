"""Install and run the real servers of the local stack: Kafka, FerretDB, MinIO."""
