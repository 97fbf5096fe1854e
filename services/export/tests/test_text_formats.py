"""CoNLL BIO read back by a reader written from the CoNLL-2003 layout and checked with seqeval;
relation triplets; classification CSV; audio segments and transcripts."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from seqeval.metrics import f1_score
from seqeval.metrics.sequence_labeling import get_entities
from seqeval.scheme import IOB2

from services.export.domain.formats import AcceptedItem, ExportStats, write_export
from services.export.domain.formats.conll import tokens
from services.export.tests.samples import NER, item, job, ner_items

NER_JOB = job("named_entities", NER)


def read_conll(text: str) -> list[list[tuple[str, str]]]:
    """Documents of (token, NER tag) as the CoNLL-2003 files lay them out: ``-DOCSTART-``
    lines open documents, blank lines end sentences, columns are space-separated with the
    NER tag last. Here every document holds one sentence."""
    documents: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        if line.startswith("-DOCSTART-"):
            assert line == "-DOCSTART- -X- -X- O"
            documents.append([])
        elif line:
            columns = line.split(" ")
            assert len(columns) == 4, line
            documents[-1].append((columns[0], columns[3]))
    return documents


def _entities_by_text(document: list[tuple[str, str]], source: str) -> list[tuple[str, str]]:
    """seqeval's entities mapped back onto the source text through the token offsets."""
    words = [w for w, _ in document]
    offsets, at = [], 0
    for word in words:
        start = source.index(word, at)
        offsets.append((start, start + len(word)))
        at = start + len(word)
    return [(label, source[offsets[first][0]:offsets[last][1]])
            for label, first, last in get_entities([t for _, t in document])]


def test_conll_parses_and_its_entities_are_the_labelled_spans() -> None:
    items = ner_items()
    stats = ExportStats()
    documents = read_conll(b"".join(write_export("conll", items, NER_JOB, stats)).decode())
    assert len(documents) == len(items)
    tags = [[t for _, t in doc] for doc in documents if doc]
    assert f1_score(tags, tags, mode="strict", scheme=IOB2) == 1.0  # valid IOB2 throughout
    for it, document in zip(items, documents, strict=True):
        text = it.data["source"]
        wanted = [(s["label"], text[s["start"]:s["end"]]) for s in it.answer["entities"]]
        assert _entities_by_text(document, text) == wanted
        # Nothing of the text is lost: the tokens are its non-space characters in order.
        assert "".join(w for w, _ in document) == "".join(text.split())
    assert stats.objects == 6 and not stats.skipped
    assert documents[0][5:7] == [("Corp", "I-ORG"), (".", "O")]  # a span cutting a token
    assert documents[1][:2] == [("Bob", "B-PER"), ("'s", "O")]


def test_overlapping_entities_keep_the_first_and_count_the_rest() -> None:
    overlap = job("named_entities", NER, {"allow_overlap": True})
    text = "New York City Hall"
    it = item("o", {"source": text}, {"entities": [
        {"id": "a", "label": "LOC", "start": 0, "end": 13},
        {"id": "b", "label": "ORG", "start": 9, "end": 18},
        {"id": "c", "label": "LOC", "start": 4, "end": 8}]})
    stats = ExportStats()
    [document] = read_conll(b"".join(write_export("conll", [it], overlap, stats)).decode())
    assert _entities_by_text(document, text) == [("LOC", "New York City")]
    assert stats.skipped == {"overlapping entities (BIO cannot nest)": 2}


def test_tokens_split_at_whitespace_and_at_entity_boundaries() -> None:
    assert tokens("a  bc\td\n") == [(0, 1), (3, 5), (6, 7)]
    assert tokens("abcdef", [2, 4]) == [(0, 2), (2, 4), (4, 6)]


def test_triplets_name_head_relation_and_tail() -> None:
    relations = job("entity_relations", [
        {"name": "PER"}, {"name": "ORG"},
        {"name": "works_for", "kind": "relation", "source": ["PER"], "target": ["ORG"]}])
    text = "Alice works for Acme."
    items = [item("r1", {"source": text}, {
        "entities": [{"id": "e1", "label": "PER", "start": 0, "end": 5},
                     {"id": "e2", "label": "ORG", "start": 16, "end": 20}],
        "relations": [{"label": "works_for", "from": "e1", "to": "e2"}]}),
        item("r2", {"source": "Nothing here."}, {"entities": [], "relations": []})]
    lines = [json.loads(x) for x in b"".join(write_export("triplets", items, relations))
             .decode().splitlines()]
    assert lines == [
        {"id": "r1", "text": text, "triplets": [{
            "head": {"text": "Alice", "label": "PER", "start": 0, "end": 5},
            "relation": "works_for",
            "tail": {"text": "Acme", "label": "ORG", "start": 16, "end": 20}}]},
        {"id": "r2", "text": "Nothing here.", "triplets": []}]


def test_classification_csv_has_id_source_and_one_column_per_topic() -> None:
    single = job("text_classification", ["pos", "neg"])
    multi = job("image_multi_classification", ["cat", "dog"])
    rows = list(csv.reader(io.StringIO(b"".join(write_export(
        "classification_csv", [item("a", {"source": 'He said "hi",\nthen left'},
                                    {"label": "pos"})], single)).decode(), newline="")))
    assert rows == [["id", "source", "label"], ["a", 'He said "hi",\nthen left', "pos"]]
    rows = list(csv.DictReader(io.StringIO(b"".join(write_export(
        "classification_csv", [item("b", {"source": "s3://x/b.jpg"}, {"label": ["cat", "dog"]}),
                               item("c", {"source": "s3://x/c.jpg"}, {})], multi)).decode())))
    assert [(r["id"], r["label"]) for r in rows] == [("b", "cat;dog"), ("c", "")]


def _segments_job() -> Any:
    return job("audio_segmentation",
               [{"name": "happy", "class": "emotion"}, {"name": "sad", "class": "emotion"},
                {"name": "male", "class": "gender"}, {"name": "female", "class": "gender"}],
               {"with_text": True, "with_speaker": True})


def _audio_items() -> list[AcceptedItem]:
    return [item("a1", {"source": "s3://b/a1.wav"}, {"segments": [
        {"start": 2.5, "end": 4.0, "classes": {"emotion": "sad", "gender": "male"},
         "text": "bye, then", "speaker": "B"},
        {"start": 0.0, "end": 2.5, "classes": {"emotion": "happy"}, "text": "hello",
         "speaker": "A"}]})]


def test_audio_segments_as_json_lines_and_csv_in_time_order() -> None:
    segments = _segments_job()
    lines = [json.loads(x) for x in b"".join(write_export(
        "audio_segments", _audio_items(), segments)).decode().splitlines()]
    assert [(x["start"], x["end"], x["labels"], x["text"], x["speaker"]) for x in lines] == [
        (0.0, 2.5, ["happy"], "hello", "A"), (2.5, 4.0, ["sad", "male"], "bye, then", "B")]
    rows = list(csv.DictReader(io.StringIO(b"".join(write_export(
        "audio_segments_csv", _audio_items(), segments)).decode())))
    assert [(r["start"], r["end"], r["labels"], r["text"]) for r in rows] == [
        ("0.0", "2.5", "emotion=happy", "hello"),
        ("2.5", "4.0", "emotion=sad;gender=male", "bye, then")]


def test_transcripts_from_free_text_or_from_timed_segments() -> None:
    plain = job("audio_transcription", [])
    [line] = b"".join(write_export("transcripts", [item(
        "t", {"source": "s3://b/t.wav"}, {"transcript": "good morning"})], plain)).splitlines()
    assert json.loads(line) == {"id": "t", "source": "s3://b/t.wav", "text": "good morning"}
    [line] = b"".join(write_export("transcripts", _audio_items(), _segments_job())).splitlines()
    record = json.loads(line)
    assert record["text"] == "hello bye, then"
    assert [s["speaker"] for s in record["segments"]] == ["A", "B"]
