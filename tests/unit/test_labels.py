"""The one label rule: class folders -> labels, and the class names a trained model carries."""
import pytest
from hypothesis import given, settings, strategies as st

from quant import data
from toolkit.labels import LabelError, class_map, class_names_file, read_class_names, write_class_names


def test_numbers_are_class_ids_for_imagenet_models_and_dense_for_a_new_head():
    assert class_map({"1", "5"}).labels == {"1": 1, "5": 5}                 # ImageNet convention: ids
    assert class_map({"1", "5"}, dense=True).labels == {"1": 0, "5": 1}     # a 2-class head: 0, 1
    dense = class_map({"0", "1", "2", "10"}, dense=True)
    assert dense.labels == {"0": 0, "1": 1, "2": 2, "10": 3} and dense.names == ("0", "1", "2", "10")
    # numbers before names, numbers numerically
    assert class_map({"cat", "10", "9"}, dense=True).names == ("9", "10", "cat")


def test_only_ascii_digits_are_ids():
    # '²' and '١' pass str.isdigit(); int('²') raises and int('١') is 1: they are names here
    m = class_map({"²", "3"})
    assert m.rule == "sorted" and m.labels == {"3": 0, "²": 1}
    assert class_map({"١", "1"}).rule == "sorted"


def test_a_recorded_class_list_wins_and_unknown_folders_are_named():
    known = ["1", "5", "cat"]
    assert class_map({"cat", "1"}, known=known).labels == {"1": 0, "cat": 2}
    with pytest.raises(LabelError, match=r"'dog' are not among the 3 classes the model was trained on \('1', '5'"):
        class_map({"dog", "1"}, known=known)


def test_class_names_sidecar_round_trip_and_bad_files(tmp_path):
    w = tmp_path / "M.pdparams"
    assert read_class_names(w) is None
    write_class_names(w, ["b", "a", "10"])
    assert class_names_file(w) == tmp_path / "M.classes.txt" and read_class_names(w) == ["b", "a", "10"]
    class_names_file(w).write_text("a\na\n")
    with pytest.raises(LabelError, match="is not a class list"):
        read_class_names(w)


NAME = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters="/\\\0"),
               min_size=1, max_size=8).filter(lambda n: n.strip() == n and n not in (".", ".."))


@settings(max_examples=300, deadline=None)
@given(st.sets(NAME, min_size=2, max_size=12), st.data())
def test_a_trained_head_evaluates_any_folder_subset_with_its_training_labels(folders, draw):
    """Study's contract for any folder names: training labels are 0..K-1 (they fit a K-class head); the names
    recorded with the model map every later folder set (all classes or some) to the labels it was trained with."""
    train = class_map(folders, dense=True)
    assert sorted(train.labels.values()) == list(range(len(folders)))
    recorded = list(train.names)
    assert [train.labels[n] for n in recorded] == list(range(len(folders)))
    val = draw.draw(st.sets(st.sampled_from(sorted(folders)), min_size=1))
    again = class_map(val, known=recorded)
    assert again.labels == {n: train.labels[n] for n in val}


def test_class_folders_with_numeric_names_nested_and_relative(tmp_path, monkeypatch):
    from PIL import Image
    for c in ("1", "5"):
        for sub in ("a", "b"):                           # the same file name in two sub-folders of a class
            (tmp_path / "d" / c / sub).mkdir(parents=True)
            Image.new("RGB", (8, 8)).save(tmp_path / "d" / c / sub / "x.png")
    monkeypatch.chdir(tmp_path)
    s = data.open_folder("d/", data.Preprocess.for_input_size(32), need_labels=True, dense=True)
    assert sorted(s.labels) == [0, 0, 1, 1] and s.classes == ["1", "5"] and s.root.is_absolute()
    (tmp_path / "d" / "list.txt").write_text("1/a/x.png 3\n5/b/x.png 7\n")
    s = data.open_folder("d", data.Preprocess.for_input_size(32), labels_file="d/list.txt", need_labels=True)
    assert s.labels == [3, 7] and len(s.listing_sha256()) == 64
