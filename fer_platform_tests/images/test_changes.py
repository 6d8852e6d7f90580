"""The sensor's change detection as pure logic: folder mtimes against the marks the runs stored, settling."""



from fer_platform.images.changes import being_landed, folder_changes
from fer_platform.images.scan import FolderMark

S = 1_000_000_000  # ns


def test_a_folder_is_read_when_its_mtime_differs_from_its_mark_once_settled():
    marks = {"happy": FolderMark(100 * S, 90 * S, 101 * S), "sad": FolderMark(100 * S, 90 * S, 101 * S)}
    changes = folder_changes({"happy": 100 * S, "sad": 200 * S, "new": 150 * S}, marks, settle_s=5, now_ns=203 * S)
    assert changes.runs == {"new": f"new@{150 * S}"}  # happy: as the run saw it; sad: changed 3 s ago
    assert changes.settling == ["sad"] and changes.vanished == []
    later = folder_changes({"happy": 100 * S, "sad": 200 * S}, marks | {"gone": marks["sad"]}, 5, 206 * S)
    assert later.runs == {"sad": f"sad@{200 * S}"} and later.vanished == ["gone"]


def test_a_change_that_is_a_landing_in_flight_is_left_to_its_run():
    marks = {"happy": FolderMark(100 * S, 90 * S, 101 * S), "sad": FolderMark(100 * S, 90 * S, 101 * S)}
    mtimes = {"happy": 120 * S, "sad": 130 * S}
    changes = folder_changes(mtimes, marks, settle_s=0, now_ns=200 * S)
    assert changes.runs.keys() == {"happy", "sad"}
    copying = being_landed(changes, mtimes, marks, {"happy": (100 * S, None), "sad": (100 * S, 120 * S)})
    assert copying.runs.keys() == {"sad"} and copying.settling == ["happy"]  # sad changed again after its landing
    copied = being_landed(changes, mtimes, marks, {"happy": (100 * S, 120 * S), "sad": (99 * S, 130 * S)})
    assert copied.runs.keys() == {"sad"}  # sad's landing started from another state than its mark


def test_a_file_young_when_the_run_looked_is_read_again_once_settled():
    unsettled = FolderMark(mtime_ns=100 * S, newest_file_ns=99 * S, marked_at_ns=101 * S)  # 2 s old at the scan
    assert not unsettled.settled(5) and unsettled.settled(1)
    assert folder_changes({"happy": 100 * S}, {"happy": unsettled}, 5, 102 * S).settling == ["happy"]
    again = folder_changes({"happy": 100 * S}, {"happy": unsettled}, 5, 105 * S).runs["happy"]
    assert again == f"happy@{100 * S}~{101 * S}"  # a new key: Dagster runs it though the folder is the same
