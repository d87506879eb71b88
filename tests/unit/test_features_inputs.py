"""Which inputs a recording's features come from (palsyflow.features.inputs)."""

from __future__ import annotations

from palsyflow.features.inputs import gets_speech_measures, has_face, rest_photo_pairs, speech_contexts


def rec(task, kind="photo", subject="V1", session="20260301", site="clinic", prompt=None):
    key = f"{site}-{subject}-{session}-{task}"
    return {"key": key, "site": site, "subject": subject, "session": session, "task": task, "kind": kind,
            "raw_path": f"raw/{key}", "prompt": prompt}


def test_task_photos_pair_with_the_rest_photo_of_their_own_session():
    records = [
        rec("rest"),
        rec("smile"),
        rec("brow_raise"),
        rec("speech"),  # not a dynamic task
        rec("rest", subject="V2"),
        rec("smile", subject="V2", session="20260302"),  # other session: no rest photo
        rec("smile", site="other"),  # same subject label at another site: no rest photo
        rec("smile", kind="video", subject="V3"),
        rec("rest", kind="video", subject="V3"),
        rec("pucker", subject="V4"),
        rec("rest", kind="video", subject="V4"),  # a rest video is no rest photo
    ]
    pairs = rest_photo_pairs(records)
    assert set(pairs) == {"clinic-V1-20260301-smile", "clinic-V1-20260301-brow_raise"}
    assert all(r["key"] == "clinic-V1-20260301-rest" for r in pairs.values())


def test_dynamic_tasks_can_be_narrowed():
    records = [rec("rest"), rec("smile"), rec("brow_raise")]
    assert set(rest_photo_pairs(records, dynamic_tasks=("smile",))) == {"clinic-V1-20260301-smile"}


def test_speech_measures_go_to_the_protocol_speech_tasks():
    assert gets_speech_measures(rec("speech", kind="video"))
    for task in ("vowel", "ddk_pataka", "sentences", "passage", "silence"):
        assert gets_speech_measures(rec(task, kind="audio")), task
    assert not gets_speech_measures(rec("rest", kind="video"))
    assert not gets_speech_measures(rec("smile", kind="photo"))


def test_speech_context_names_the_room_tone_sentence_set_and_avqi_speech_of_the_session():
    records = [
        rec("silence", kind="audio"),
        rec("vowel", kind="audio"),
        rec("sentences", kind="audio", prompt="bin blue at f two now"),
        rec("speech", kind="video", prompt="lay red with p nine again"),
        rec("passage", kind="audio", prompt="north wind"),
        rec("vowel", kind="audio", subject="V2"),  # another subject: none of V1's files
        rec("rest", kind="video"),
    ]
    ctx = speech_contexts(records)
    assert set(ctx) == {r["key"] for r in records if r["task"] != "rest"}
    vowel = ctx["clinic-V1-20260301-vowel"]
    assert vowel.task_kind == "vowel" and vowel.silence_path == "raw/clinic-V1-20260301-silence"
    assert vowel.connected_path == "raw/clinic-V1-20260301-passage"  # a passage first, for AVQI
    assert ctx["clinic-V1-20260301-sentences"].sentence_set == (
        "bin blue at f two now", "lay red with p nine again", "north wind")
    assert ctx["clinic-V1-20260301-silence"].silence_path is None  # room tone is not its own floor
    other = ctx["clinic-V2-20260301-vowel"]
    assert other.silence_path is None and other.connected_path is None and other.sentence_set == ()


def test_faces_are_videos_and_photos():
    assert has_face(rec("rest", kind="video")) and has_face(rec("rest", kind="photo"))
    assert not has_face(rec("speech", kind="audio"))
