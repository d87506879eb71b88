"""Which inputs a recording's features come from (palsyflow.features.inputs)."""

from __future__ import annotations

from palsyflow.config import FeatureParams
from palsyflow.features.inputs import gets_speech_measures, has_face, rest_photo_pairs


def rec(task, kind="photo", subject="V1", session="20260301", site="clinic"):
    return {"key": f"{site}-{subject}-{session}-{task}", "site": site, "subject": subject, "session": session, "task": task, "kind": kind}


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


def test_speech_measures_go_to_speech_tasks_and_audio_recordings():
    params = FeatureParams()
    assert gets_speech_measures(rec("speech", kind="video"), params)
    assert gets_speech_measures(rec("rest", kind="audio"), params)
    assert not gets_speech_measures(rec("rest", kind="video"), params)
    assert not gets_speech_measures(rec("smile", kind="photo"), params)
    reading = params.model_copy(update={"speech_tasks": ("speech", "rest")})
    assert gets_speech_measures(rec("rest", kind="video"), reading)


def test_faces_are_videos_and_photos():
    assert has_face(rec("rest", kind="video")) and has_face(rec("rest", kind="photo"))
    assert not has_face(rec("speech", kind="audio"))
