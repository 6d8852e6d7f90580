"""Reading Event Grid and CloudEvents blob events, plain or base64, and refusing what is not one."""

import pytest

from fer_platform.images.landings.events import MAX_MESSAGE_BYTES, UndecodableMessage, message_events, parse_event
from fer_platform_tests.support.event_messages import SOURCE, blob_event, message, sequencer


def parsed(body: str, split: str = "train"):
    return [parse_event(raw, SOURCE, split) for raw in message_events(body)]


@pytest.mark.parametrize("cloud", [False, True])
@pytest.mark.parametrize("encoded", [False, True])
def test_both_schemas_plain_or_base64_name_the_image(cloud, encoded):
    [event] = parsed(message(blob_event("train/happy/a b.png", sequencer(7), cloud=cloud), encoded=encoded))
    expected = ("train/happy/a b.png", "happy", "created", None)
    assert (event.filepath, event.emotion, event.kind, event.ignored) == expected
    assert event.blob == f"{SOURCE}/train/happy/a b.png" and event.sequencer == sequencer(7)


def test_a_message_may_hold_several_events_and_deletions():
    create = blob_event("train/sad/x.jpg", sequencer(1))
    delete = blob_event("train/sad/x.jpg", sequencer(2), "BlobDeleted")
    events = parsed(message(create, delete))
    assert [e.kind for e in events] == ["created", "deleted"]


@pytest.mark.parametrize(
    ("path", "container", "reason"),
    [
        ("train/happy/a.png", "other", "not under the source container"),
        ("test/happy/a.png", SOURCE, "split 'test' is not FER_SPLIT='train'"),
        ("train/a.png", SOURCE, "not <split>/<emotion>/<file>"),
        ("train/happy/deep/a.png", SOURCE, "not <split>/<emotion>/<file>"),
        ("train/happy/a.png.part", SOURCE, "hidden or a partial file"),
        ("train/bad...name/a.png", SOURCE, "not a valid partition name"),
    ],
)
def test_events_outside_the_layout_are_ignored_with_the_reason(path, container, reason):
    [event] = parsed(message(blob_event(path, sequencer(1), container=container)))
    assert event.emotion is None and reason in event.ignored


def test_other_event_types_are_ignored():
    [event] = parsed(message(blob_event("train/happy/a.png", sequencer(1), kind="BlobTierChanged")))
    assert "BlobTierChanged" in event.ignored and event.emotion is None


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("not json at all", "neither JSON nor base64"),
        (message(blob_event("train/happy/a.png", sequencer(1)))[:-20], "neither JSON nor base64"),  # truncated
        ("[1, 2]", "not an event object"),
        ("x" * (MAX_MESSAGE_BYTES + 1), "more than"),
        ('{"eventType": "Microsoft.Storage.BlobCreated", "subject": "/x"}', "does not name a blob"),
    ],
)
def test_undecodable_messages_say_why(body, why):
    with pytest.raises(UndecodableMessage, match=why):
        parsed(body)


def test_an_event_without_a_sequencer_is_undecodable():
    raw = blob_event("train/happy/a.png", sequencer(1))
    del raw["data"]["sequencer"]
    with pytest.raises(UndecodableMessage, match="data.sequencer"):
        parse_event(raw, SOURCE, "train")


def test_an_adls_file_counts_when_flushed_with_close_not_when_created():
    created, flushed = blob_event("train/happy/a.png", sequencer(1)), blob_event("train/happy/a.png", sequencer(2))
    created["data"]["api"], flushed["data"]["api"] = "CreateFile", "FlushWithClose"
    first, finished = parsed(message(created, flushed))
    assert first.emotion is None and "CreateFile" in first.ignored
    assert finished.emotion == "happy" and finished.ignored is None and finished.filepath == "train/happy/a.png"
