"""Consumer lag: committed offsets against the log end, per topic, from the outside."""

from __future__ import annotations

from aiokafka import TopicPartition

from labelops_shared.kafka import lag_by_topic

A, B = "labelops.jobs.events.v1", "labelops.dataset.events.v1"


def test_lag_is_the_uncommitted_messages_summed_over_partitions() -> None:
    ends = {TopicPartition(A, 0): 100, TopicPartition(A, 1): 50, TopicPartition(B, 0): 7}
    committed = {TopicPartition(A, 0): 90, TopicPartition(A, 1): 50, TopicPartition(B, 0): 7}
    assert lag_by_topic(committed, {}, ends) == {A: 10, B: 0}


def test_a_partition_never_committed_counts_from_its_first_offset() -> None:
    ends = {TopicPartition(A, 0): 100, TopicPartition(A, 1): 30}
    beginnings = {TopicPartition(A, 0): 40, TopicPartition(A, 1): 0}
    committed = {TopicPartition(A, 0): -1}  # Kafka's answer for "no committed offset"
    assert lag_by_topic(committed, beginnings, ends) == {A: 60 + 30}


def test_lag_is_never_negative() -> None:
    # The end offset read before a commit that went past it (read in two requests).
    assert lag_by_topic({TopicPartition(A, 0): 12}, {}, {TopicPartition(A, 0): 10}) == {A: 0}
