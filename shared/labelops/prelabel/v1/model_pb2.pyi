from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PredictRequest(_message.Message):
    __slots__ = ("job_id", "topics_json", "labels", "items")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    TOPICS_JSON_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    topics_json: str
    labels: _containers.RepeatedScalarFieldContainer[str]
    items: _containers.RepeatedCompositeFieldContainer[ModelItem]
    def __init__(self, job_id: _Optional[str] = ..., topics_json: _Optional[str] = ..., labels: _Optional[_Iterable[str]] = ..., items: _Optional[_Iterable[_Union[ModelItem, _Mapping]]] = ...) -> None: ...

class ModelItem(_message.Message):
    __slots__ = ("id", "data_json", "content")
    ID_FIELD_NUMBER: _ClassVar[int]
    DATA_JSON_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    id: str
    data_json: str
    content: _containers.RepeatedCompositeFieldContainer[Content]
    def __init__(self, id: _Optional[str] = ..., data_json: _Optional[str] = ..., content: _Optional[_Iterable[_Union[Content, _Mapping]]] = ...) -> None: ...

class Content(_message.Message):
    __slots__ = ("field", "kind", "text", "uri", "url")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    field: str
    kind: str
    text: str
    uri: str
    url: str
    def __init__(self, field: _Optional[str] = ..., kind: _Optional[str] = ..., text: _Optional[str] = ..., uri: _Optional[str] = ..., url: _Optional[str] = ...) -> None: ...

class PredictResponse(_message.Message):
    __slots__ = ("model_version", "items")
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    model_version: str
    items: _containers.RepeatedCompositeFieldContainer[ItemResult]
    def __init__(self, model_version: _Optional[str] = ..., items: _Optional[_Iterable[_Union[ItemResult, _Mapping]]] = ...) -> None: ...

class ItemResult(_message.Message):
    __slots__ = ("id", "answers", "error")
    ID_FIELD_NUMBER: _ClassVar[int]
    ANSWERS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    id: str
    answers: _containers.RepeatedCompositeFieldContainer[TopicAnswer]
    error: str
    def __init__(self, id: _Optional[str] = ..., answers: _Optional[_Iterable[_Union[TopicAnswer, _Mapping]]] = ..., error: _Optional[str] = ...) -> None: ...

class TopicAnswer(_message.Message):
    __slots__ = ("topic", "answer_json", "confidence")
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    ANSWER_JSON_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    topic: str
    answer_json: str
    confidence: float
    def __init__(self, topic: _Optional[str] = ..., answer_json: _Optional[str] = ..., confidence: _Optional[float] = ...) -> None: ...
