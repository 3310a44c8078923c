import numpy as np
import pytest
from PIL import Image

from quant import data


def test_resize_matches_opencv_inter_linear():
    import cv2
    img = np.random.RandomState(0).uniform(0, 255, (37, 53, 3)).astype(np.float32)
    for h, w in [(20, 30), (64, 90), (37, 53), (256, 367)]:
        ours = data.resize_bilinear(img, h, w)
        ref = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
        assert np.max(np.abs(ours - ref)) < 1e-3, (h, w)


def test_preprocess_short_side_center_crop_normalize():
    pp = data.Preprocess()
    rgb = np.zeros((300, 400, 3), np.uint8)
    rgb[..., 0] = 255
    x = data.preprocess_array(rgb, pp)
    assert x.shape == (3, 224, 224) and x.dtype == np.float32
    assert np.allclose(x[0], (1 - 0.485) / 0.229, atol=1e-5)
    assert np.allclose(x[1], (0 - 0.456) / 0.224, atol=1e-5)
    assert data.Preprocess.for_input_size(32).resize_short == 37


def _img(path, mode, size=(40, 30), color=128):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color if mode in ("L", "P") else (color,) * len(mode)).save(path)
    return path


def test_folder_with_classes_grayscale_cmyk_and_junk(tmp_path):
    _img(tmp_path / "cat" / "a.png", "L")
    _img(tmp_path / "cat" / "b.jpg", "CMYK")
    _img(tmp_path / "dog" / "deep" / "c.bmp", "RGB")
    (tmp_path / "dog" / "broken.jpg").write_bytes(b"not a jpeg")
    (tmp_path / "notes.txt").write_text("ignored")
    s = data.open_folder(tmp_path, data.Preprocess.for_input_size(32), need_labels=True)
    assert s.classes == ["cat", "dog"] and len(s) == 3 and s.skipped == ["dog/broken.jpg"]
    assert sorted(s.labels) == [0, 0, 1]
    batch, labels, _ = next(s.batches(8))
    assert batch.shape == (3, 3, 32, 32) and np.isfinite(batch).all()


def test_list_file_labels(tmp_path):
    _img(tmp_path / "imgs" / "x.png", "RGB")
    _img(tmp_path / "imgs" / "y.png", "RGB")
    (tmp_path / "val_list.txt").write_text("imgs/x.png 7\nimgs/y.png 3\n\n")
    s = data.open_folder(tmp_path, data.Preprocess(), need_labels=True)
    assert s.labels == [7, 3]
    (tmp_path / "bad.txt").write_text("imgs/x.png seven\n")
    with pytest.raises(data.DataError, match="line 1: expected 'relative/path.jpg label'"):
        data.open_folder(tmp_path, data.Preprocess(), labels_file=tmp_path / "bad.txt")
    (tmp_path / "escape.txt").write_text("../outside.png 1\n")
    with pytest.raises(data.DataError, match="leaves the data folder"):
        data.open_folder(tmp_path, data.Preprocess(), labels_file=tmp_path / "escape.txt")


def test_empty_unlabelled_and_all_broken(tmp_path):
    with pytest.raises(data.DataError, match="holds no images"):
        data.open_folder(tmp_path, data.Preprocess())
    _img(tmp_path / "flat.png", "RGB")
    with pytest.raises(data.DataError, match="has no labels"):
        data.open_folder(tmp_path, data.Preprocess(), need_labels=True)
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "a.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(data.DataError, match="none of its 1 image files can be decoded"):
        data.open_folder(junk, data.Preprocess())
    with pytest.raises(data.DataError, match="does not exist"):
        data.open_folder(tmp_path / "missing", data.Preprocess())


def test_numbered_class_folders_are_class_ids_not_string_order(tmp_path):
    """Folders 0..10: string order put '10' at index 2, so every image of classes 2..10 got a wrong label."""
    for c in range(11):
        _img(tmp_path / str(c) / "x.png", "RGB", color=10 * c)
    s = data.open_folder(tmp_path, data.Preprocess.for_input_size(32), need_labels=True)
    got = {f.parent.name: lab for f, lab in zip(s.files, s.labels)}
    assert got == {str(c): c for c in range(11)}
    assert s.classes == [str(c) for c in range(11)]


def test_numbered_class_folders_keep_their_ids_when_classes_are_missing(tmp_path):
    for c in ("3", "7"):
        _img(tmp_path / c / "x.png", "RGB")
    s = data.open_folder(tmp_path, data.Preprocess.for_input_size(32), need_labels=True)
    assert sorted(s.labels) == [3, 7]


def test_named_class_folders_sort_as_strings_and_clashing_numbers_are_refused(tmp_path):
    for c in ("n02", "n10", "n01"):
        _img(tmp_path / "a" / c / "x.png", "RGB")
    s = data.open_folder(tmp_path / "a", data.Preprocess.for_input_size(32), need_labels=True)
    assert {f.parent.name: lab for f, lab in zip(s.files, s.labels)} == {"n01": 0, "n02": 1, "n10": 2}
    for c in ("1", "01"):
        _img(tmp_path / "b" / c / "x.png", "RGB")
    with pytest.raises(data.LabelError, match="both class 1"):
        data.open_folder(tmp_path / "b", data.Preprocess.for_input_size(32), need_labels=True)
