import pytest

from harflow.data.labels import HAPT_LABELS
from harflow.patterns.classes import TABLE, class_table, is_no_data, lookup


def test_every_model_label_has_a_class():
    assert set(HAPT_LABELS.values()) <= set(TABLE)


def test_laying_is_lying_only_at_night_and_rises_end_standing():
    laying = lookup("LAYING")
    assert (laying.day, laying.night, laying.posture) == ("sedentary", "lying", "lie")
    assert [n for n in HAPT_LABELS.values() if lookup(n).rise] == ["SIT_TO_STAND", "LIE_TO_STAND"]
    assert all(lookup(n).day == "transition" for n in HAPT_LABELS.values() if "_TO_" in n)
    assert [n for n in HAPT_LABELS.values() if lookup(n).active] == [
        "WALKING", "WALKING_UPSTAIRS", "WALKING_DOWNSTAIRS"]  # fmt: skip


@pytest.mark.parametrize(
    ("label", "day", "night", "active"),
    [("sleep", "lying", "lying", False), ("Sedentary", "sedentary", "sedentary", False),
     ("light", "active", "active", True), ("MVPA", "active", "active", True),
     ("moderate-vigorous", "active", "active", True), ("cycling", "cycling", "cycling", False)],
)  # fmt: skip
def test_other_classifiers_labels_pass_through(label, day, night, active):
    c = lookup(label)
    assert (c.day, c.night, c.active) == (day, night, active)


def test_non_wear_is_no_data_and_the_table_is_vectorizable():
    assert is_no_data("non-wear") and is_no_data("Not worn") and not is_no_data("sleep")
    t = class_table(["WALKING", "LAYING", "cycling"])
    assert t["active"].tolist() == [True, False, False] and t["night"].tolist() == [
        "active",
        "lying",
        "cycling",
    ]
