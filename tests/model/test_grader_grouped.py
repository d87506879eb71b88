"""Subject-grouped House-Brackmann grader: ordinal metrics, refusal, and a simulated graded cohort."""

from __future__ import annotations

import numpy as np
import pytest

from palsyflow.config import TrainParams
from palsyflow.models.grader import (
    CLINICIAN_EXACT_AGREEMENT,
    evaluate_grader_grouped,
    grouped_grader_possible,
    ordinal_metrics,
)


def test_ordinal_metrics_by_hand():
    m = ordinal_metrics([1, 2, 3, 4], [1, 3, 3, 6])
    assert m["exact_agreement"] == 0.5
    assert m["within_one_agreement"] == 0.75
    assert m["mae"] == pytest.approx(0.75)
    perfect = ordinal_metrics([1, 3, 5, 6], [1, 3, 5, 6])
    assert perfect["kappa_quadratic"] == pytest.approx(1.0) and perfect["kappa_linear"] == pytest.approx(1.0)
    # a near miss costs less under quadratic weights than a far miss
    near = ordinal_metrics([1, 2, 3, 4, 5, 6], [2, 2, 3, 4, 5, 6])["kappa_quadratic"]
    far = ordinal_metrics([1, 2, 3, 4, 5, 6], [6, 2, 3, 4, 5, 6])["kappa_quadratic"]
    assert near > far
    assert np.isnan(ordinal_metrics([2, 2], [2, 2])["kappa_linear"])


@pytest.mark.parametrize(
    ("grades", "subjects", "ok"),
    [
        ([1, 1, 3, 3], ["a", "a", "b", "b"], False),  # two subjects only
        ([1, 3, 1, 3, 1, 3], ["a", "a", "b", "b", "c", "c"], False),  # three subjects
        ([1, 3, 1, 3, 1, 3, 1, 3], ["a", "a", "b", "b", "c", "c", "d", "d"], True),
        ([1, 1, 1, 1, 3], ["a", "b", "c", "d", "e"], False),  # grade 3 on one subject only
        ([None, None, None, None], ["a", "b", "c", "d"], False),
    ],
)
def test_grouped_refusal_names_the_counts(grades, subjects, ok):
    possible, reason = grouped_grader_possible(grades, subjects)
    assert possible is ok
    if not ok:
        assert reason.startswith("grader refused") and "subjects per grade" in reason


def test_grouped_evaluation_refuses_with_the_reason():
    X = np.random.default_rng(0).normal(size=(4, 3))
    with pytest.raises(ValueError, match="grader refused.*got 4 graded sessions of 2 subjects"):
        evaluate_grader_grouped(X, [1, 2, 1, 2], ["a", "a", "b", "b"], TrainParams())


def test_subject_grouping_stops_a_grader_from_recognising_the_subject():
    """Each subject has one grade and a distinctive feature vector; nothing else is informative."""
    rng = np.random.default_rng(1)
    subjects, grades, rows = [], [], []
    for s in range(12):
        centre = rng.normal(0, 3, 20)
        g = (1, 3, 5)[s % 3]
        for _ in range(4):
            rows.append(centre + rng.normal(0, 0.05, 20))
            subjects.append(f"s{s}")
            grades.append(g)
    X = np.array(rows)
    grouped = evaluate_grader_grouped(X, grades, subjects, TrainParams(cv_folds=4), n_boot=50)
    by_session = evaluate_grader_grouped(X, grades, [f"r{i}" for i in range(len(grades))], TrainParams(cv_folds=4), n_boot=50)
    assert by_session["exact_agreement"] > 0.9  # sessions of one subject leak between folds
    assert grouped["exact_agreement"] < 0.7
    assert grouped["n_subjects"] == 12 and grouped["cv_folds"] == 4


@pytest.mark.shared_data
def test_grader_on_a_simulated_graded_cohort(shared_data, face_model):
    """SIMULATED cohort: three real healthy faces (rest and big-smile photos), each side
    weakened by the phantom at w = 0, 0.2, ... 1.0, graded House-Brackmann I..VI by w.
    Subjects are (face, side); evaluation grouped by subject."""
    from palsyflow.features.regional import recording_measures
    from palsyflow.phantom import weakened_targets
    from palsyflow.phantom.simulate import detect_photo

    ht = shared_data / "healthy-tasks"
    pairs = [
        (ht / "app_uploads" / "K8bhUx2Hqv2LjfP4BsKy" / "at-rest-0.png", ht / "app_uploads" / "K8bhUx2Hqv2LjfP4BsKy" / "big-smile-0.png"),
        (ht / "app_uploads" / "lSHYQROPdgk7kJTsZxJu" / "at-rest-0.png", ht / "app_uploads" / "lSHYQROPdgk7kJTsZxJu" / "big-smile-0.png"),
        (ht / "mpeschel_session_A_original_assets" / "face-mp-at-rest.jpg", ht / "mpeschel_session_A_original_assets" / "face-mp-big-smile-teeth-closed.jpg"),
    ]
    rows, grades, subjects = [], [], []
    names = None
    for f, (rest_p, smile_p) in enumerate(pairs):
        _, rest = detect_photo(rest_p, face_model)
        _, smile = detect_photo(smile_p, face_model)
        for side in ("left", "right"):
            for w in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0):
                r = weakened_targets(rest, rest, side, w, droop=0.08)
                s = weakened_targets(rest, smile, side, w, droop=0.08)
                # the smile photo is in its own pixels: measure rest and smile as two photos
                m = recording_measures(r[None]) | {
                    f"smile_{k}": v for k, v in recording_measures(s[None]).items()
                }
                names = names or sorted(k for k, v in m.items() if k.endswith("_asym"))
                rows.append([np.nan if m[k] is None else float(m[k]) for k in names])
                grades.append(1 + round(5 * w))
                subjects.append(f"face{f}-{side}")
    X = np.array(rows)
    res = evaluate_grader_grouped(X, grades, subjects, TrainParams(cv_folds=6), n_boot=200)
    assert res["n_subjects"] == 6 and res["n_sessions"] == 36
    assert res["within_one_agreement"] > 0.6
    assert res["kappa_quadratic"] > 0.5
    assert res["exact_agreement_ci"][0] <= res["exact_agreement"] <= res["exact_agreement_ci"][1]
    assert res["clinician_exact_agreement"] == list(CLINICIAN_EXACT_AGREEMENT)
    # too few graded subjects: the same cohort from one face is refused, with the reason
    one = [i for i, s in enumerate(subjects) if s.startswith("face0")]
    ok, reason = grouped_grader_possible([grades[i] for i in one], [subjects[i] for i in one])
    assert not ok and "2 subjects" in reason
