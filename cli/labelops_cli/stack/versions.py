"""Every pinned version of the local stack, in one place.

The installers pass these to Maven (``-Dkafka.version=…``) and check them against the Go
modules in ``deploy/local/*/go.mod``, and every build records them in a stamp file: changing
a pin here (and in go.mod/go.sum for the Go builds) makes the next ``up`` rebuild.
"""

from __future__ import annotations

# Kafka broker artifacts from Maven Central (deploy/local/kafka/pom.xml takes these as -D).
KAFKA_VERSION = "3.9.2"
SCALA_BINARY = "2.13"
SLF4J_VERSION = "1.7.36"  # the slf4j binding Kafka 3.9 expects (reload4j backend)
RELOAD4J_VERSION = "1.2.25"

# FerretDB v1, built from deploy/local/ferretdb (its go.mod requires this version).
FERRETDB_MODULE = "github.com/FerretDB/FerretDB"
FERRETDB_VERSION = "v1.24.2"

# MinIO's last release tag; its commit as a Go pseudo-version (pinned with its hash in
# deploy/local/minio/go.sum). The module proxy serves .mod and .zip for it but not .info.
MINIO_MODULE = "github.com/minio/minio"
MINIO_RELEASE = "RELEASE.2025-10-15T17-29-55Z"
MINIO_MODULE_VERSION = "v0.0.0-20251015172955-9e49d5e7a648"
MINIO_COMMIT_TIME = "2025-10-15T17:29:55Z"

# Toolchains.
JAVA_MIN = 17
GO_MIN = (1, 21)  # older `go` cannot fetch the newer toolchain the go.mod files ask for

# testcontainers mode (a Docker engine is reachable).
KAFKA_IMAGE = f"apache/kafka:{KAFKA_VERSION}"
MONGO_IMAGE = "mongo:7.0"
MINIO_IMAGE = "minio/minio:RELEASE.2025-09-07T16-13-09Z"  # the last image MinIO published

# Tools the ops tests run on deploy/ and docs/ (installed into LABELOPS_CACHE by
# labelops_cli.stack.tools, each once per pin).
PROMETHEUS_UPSTREAM = "2.42.0"  # Debian 12's `prometheus` package (its promtool), any +ds rev
KUBECONFORM_MODULE = "github.com/yannh/kubeconform/cmd/kubeconform"
KUBECONFORM_VERSION = "v0.7.0"
KUSTOMIZE_MODULE = "sigs.k8s.io/kustomize/kustomize/v5"
KUSTOMIZE_VERSION = "v5.8.1"
# Kubernetes JSON schemas: the PyPI package kubernetes-validate ships them per minor release.
K8S_SCHEMAS_PACKAGE = "kubernetes-validate"
K8S_SCHEMAS_PACKAGE_VERSION = "1.37.0"
K8S_VERSION = "1.33.0"  # the cluster version deploy/k8s is validated against
# The Compose Specification's JSON schema, as embedded in the Go module Docker Compose uses.
COMPOSE_GO_MODULE = "github.com/compose-spec/compose-go/v2"
COMPOSE_GO_VERSION = "v2.16.2"
# The AsyncAPI parser (npm), run with node.
ASYNCAPI_PARSER_VERSION = "3.6.3"
