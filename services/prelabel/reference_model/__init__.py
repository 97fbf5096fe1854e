"""A reference model service speaking the online pre-labeling contract
(docs/prelabel-model-contract.md) over HTTP/JSON and gRPC, for the demo and the tests:
``python -m services.prelabel.reference_model --http 17081 --grpc 17082``."""

from services.prelabel.reference_model.server import Behaviour, ReferenceModel, predict

__all__ = ["Behaviour", "ReferenceModel", "predict"]
