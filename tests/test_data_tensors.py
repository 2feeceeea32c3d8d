"""CIFAR held as uint8 tensors: read and checked from the python-format files, augmented
in whole batches keyed per sample, one order per epoch sharded among torchrun ranks; damaged
data files (CIFAR, DVS frames) end in one line naming them.

The CIFAR folders are fakes in the real format (``write_fake_cifar``); the md5 check runs
for real, against the fakes' own sums put in ``CHECKSUMS`` (the published sums are those of
the real files).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from autosnn.cli import main
from autosnn.data import cifar_files, load_data
from autosnn.data.augment import crop_flip_params, sample_keys
from autosnn.data.fake_cifar import write_fake_cifar
from autosnn.data.tensor_images import ImageTensors, TensorImages
from autosnn.errors import DatasetError
from autosnn.supernet.recalibrate import recalibration_batches
from autosnn.supernet.training import train_loader

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


@pytest.fixture
def cifar_root(tmp_path, monkeypatch) -> Path:
    """A fake CIFAR-10 folder: 20 training and 3 test images per class."""
    root = tmp_path / "data"
    monkeypatch.setitem(cifar_files.CHECKSUMS, "cifar10", write_fake_cifar(root, train_per_class=20, test_per_class=3))
    return root


def _file_images(root: Path, name: str) -> tuple[np.ndarray, list[int]]:
    with open(root / "cifar-10-batches-py" / name, "rb") as fh:
        d = pickle.load(fh, encoding="latin1")
    return d["data"].reshape(-1, 3, 32, 32), d["labels"]


def _normalised(img: np.ndarray) -> torch.Tensor:
    return (torch.from_numpy(img).float() / 255 - torch.tensor(MEAN).view(3, 1, 1)) / torch.tensor(STD).view(3, 1, 1)


def test_cifar_is_read_into_tensors_as_torchvision_reads_it(cifar_root, monkeypatch):
    import torchvision
    import torchvision.datasets.cifar as tv_cifar
    import torchvision.transforms as T

    data = load_data("cifar10", root=str(cifar_root), image_size=32, in_channels=3)
    assert (len(data.train), len(data.val), len(data.test)) == (180, 20, 30)
    # the reference: torchvision's per-image path (its md5 list is the real files', so skip it for the fake)
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda *a, **k: True)
    tf = T.Compose([T.ToTensor(), T.Normalize(MEAN, STD)])
    tv_train = torchvision.datasets.CIFAR10(str(cifar_root), train=True, transform=tf)
    tv_test = torchvision.datasets.CIFAR10(str(cifar_root), train=False, transform=tf)
    x, y = next(iter(data.loader("val", 64)))
    val = data.val.indices.tolist()
    assert y.tolist() == [tv_train[i][1] for i in val]
    assert torch.allclose(x, torch.stack([tv_train[i][0] for i in val]), atol=1e-6)
    x, y = next(iter(data.loader("test", 7)))
    assert x.shape == (7, 3, 32, 32) and y.tolist() == tv_test.targets[:7]
    assert torch.allclose(x, torch.stack([tv_test[i][0] for i in range(7)]), atol=1e-6)
    small = load_data("cifar10", root=str(cifar_root), image_size=16, in_channels=3)
    assert next(iter(small.loader("val", 4)))[0].shape == (4, 3, 16, 16)


def test_batched_crop_and_flip_match_a_per_image_reference(cifar_root):
    data = load_data("cifar10", root=str(cifar_root), image_size=32, in_channels=3)
    images = np.concatenate([_file_images(cifar_root, f"data_batch_{i}")[0] for i in range(1, 6)])
    x, _ = next(iter(data.epoch_loader(64, 7, 3)))
    idx = data.train.indices[torch.as_tensor(data.epoch_loader(64, 7, 3).positions[:64])]
    dx, dy, flip = crop_flip_params(sample_keys(7, 3, idx), 4)
    assert 0 < int(flip.sum()) < 64 and len(set(dx.tolist())) > 4 and len(set(dy.tolist())) > 4
    for j in range(64):
        padded = np.zeros((3, 40, 40), np.uint8)
        padded[:, 4:36, 4:36] = images[int(idx[j])]
        crop = padded[:, int(dy[j]):int(dy[j]) + 32, int(dx[j]):int(dx[j]) + 32]
        ref = _normalised(np.ascontiguousarray(crop[:, :, ::-1] if flip[j] else crop))
        assert torch.allclose(x[j], ref, atol=1e-6), j
    # padding is zeros: cropped at the top, 4 black rows on top; at the right edge, 4 black columns
    black = _normalised(np.zeros((3, 1, 1), np.uint8)).view(3, 1, 1)
    j = int(np.argmax(dy.numpy() == 0))
    assert dy[j] == 0 and torch.allclose(x[j][:, :4, :], black.expand(3, 4, 32), atol=1e-6)
    j = int(np.argmax(dx.numpy() == 8))
    cols = x[j][:, :, :4] if flip[j] else x[j][:, :, -4:]   # (flipped: on the left)
    assert dx[j] == 8 and torch.allclose(cols, black.expand(3, 32, 4), atol=1e-6)


def test_epoch_batches_are_seeded_resumable_and_sharded(cifar_root):
    data = load_data("cifar10", root=str(cifar_root), image_size=32, in_channels=3)
    batches = lambda seed, epoch, bs=12, **k: list(train_loader(data, bs, seed, epoch, 0, **k))  # noqa: E731
    a = batches(1, 2)
    torch.manual_seed(123)   # torch's global generator plays no part
    assert len(a) == 15 and all(torch.equal(p[0], q[0]) and torch.equal(p[1], q[1]) for p, q in zip(a, batches(1, 2)))
    assert not torch.equal(a[0][0], batches(1, 3)[0][0]) and not torch.equal(a[0][0], batches(2, 2)[0][0])
    # torchrun: 3 ranks of batch 4 = the 1-rank batch of 12, sample for sample (rank r has positions r::3)
    ranks = [batches(1, 2, 4, rank=r, world_size=3) for r in range(3)]
    assert [len(r) for r in ranks] == [15, 15, 15]
    for k in range(15):
        for r in range(3):
            assert torch.equal(ranks[r][k][0], a[k][0][r::3]) and torch.equal(ranks[r][k][1], a[k][1][r::3])
    seen = [data.epoch_loader(4, 1, 2, rank=r, world_size=3).positions for r in range(3)]
    assert len(set(torch.cat(seen).tolist())) == 180   # disjoint shards covering every sample


def test_embedded_sets_keep_the_batches_they_had_and_shard_the_same_way():
    d = load_data("digits")
    for seed, epoch in ((0, 0), (5, 1)):
        old = torch.utils.data.DataLoader(d.train, batch_size=64, shuffle=True, drop_last=True,
                                          generator=torch.Generator().manual_seed(seed * 1000 + epoch))
        from tqdm.auto import tqdm
        old_batches = list(tqdm(old, disable=True))   # how the training loop used to open it
        new = list(train_loader(d, 64, seed, epoch, 0))
        assert len(new) == len(old_batches) == 16
        assert all(torch.equal(p[0], q[0]) and torch.equal(p[1], q[1]) for p, q in zip(old_batches, new))
    one = list(train_loader(d, 32, 5, 1, 0))
    two = [list(train_loader(d, 16, 5, 1, 0, rank=r, world_size=2)) for r in range(2)]
    for k in range(len(one)):
        assert torch.equal(two[0][k][1], one[k][1][0::2]) and torch.equal(two[1][k][1], one[k][1][1::2])


def test_batches_are_made_on_the_device_asked(cifar_root):
    # torch's "meta" device stands for a GPU here: the images are placed there once and every
    # batch (training, recalibration, validation) is gathered and augmented there
    data = load_data("cifar10", root=str(cifar_root), image_size=32, in_channels=3)
    a, b = recalibration_batches(data, 16, 3), recalibration_batches(data, 16, 3, device="cpu")
    assert len(a) == 3 and all(torch.equal(p, q) for p, q in zip(a, b)) and a[0].shape == (16, 3, 32, 32)
    assert recalibration_batches(data, 16, 2, device="meta")[0].device.type == "meta"
    x, y = next(iter(train_loader(data, 8, 0, 0, 0, device="meta")))
    assert x.device.type == "meta" and x.shape == (8, 3, 32, 32) and y.device.type == "cpu"
    assert next(iter(data.loader("val", 8, device="meta")))[0].device.type == "meta"
    assert data.train.tensors.on("meta")[0].device.type == "meta"


def test_the_published_md5s_are_torchvisions():
    from torchvision.datasets import CIFAR10, CIFAR100

    for name, cls in (("cifar10", CIFAR10), ("cifar100", CIFAR100)):
        assert cifar_files.CHECKSUMS[name] == dict(cls.train_list + cls.test_list)


def test_over_the_memory_budget_the_images_stay_on_the_host_and_batches_are_unchanged(cifar_root, monkeypatch):
    data = load_data("cifar10", root=str(cifar_root), image_size=32, in_channels=3)
    t = data.train.tensors
    assert t.nbytes == 230 * 3072 + 230 * 8
    tight = ImageTensors("cifar10", t.images, t.labels, t.mean, t.std, 32, memory_budget_bytes=t.nbytes - 1)
    images, on_device = tight.on("cpu")
    assert not on_device and images.data_ptr() == t.images.data_ptr()    # no copy, served per batch
    split = TensorImages(tight, data.train.indices, augment=True)
    order = data.epoch_loader(8, 0, 0).positions
    for p, q in zip(split.batches(8, order=order, key=(0, 0)), data.epoch_loader(8, 0, 0)):
        assert torch.equal(p[0], q[0]) and torch.equal(p[1], q[1])
    # automatic rule on CUDA: a quarter of the device's free memory
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (8_000_000, 16_000_000))
    assert t.budget(torch.device("cuda")) == 2_000_000 and t.budget(torch.device("cpu")) == float("inf")


# ------------------------------------------------------------------ damaged files
def _cifar_campaign(tmp_path: Path, root: Path) -> Path:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"name: c\nspace: spikformer-cifar10\ndata: {{name: cifar10, root: {root}}}\n")
    return cfg


def _one_line(capsys, args: list[str], *words: str) -> None:
    capsys.readouterr()
    code = main(args)
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("autosnn: error: "), err
    assert "Traceback" not in err and "download=True" not in err
    for w in words:
        assert w in err, (w, err)


def test_a_truncated_cifar_file_is_one_line_naming_it(cifar_root, tmp_path, capsys, monkeypatch):
    bad = cifar_root / "cifar-10-batches-py" / "data_batch_3"
    bad.write_bytes(bad.read_bytes()[:5000])                      # a truncated download
    monkeypatch.setitem(cifar_files.CHECKSUMS, "cifar10", {})     # even with no md5 to compare, it is named
    with pytest.raises(DatasetError, match="data_batch_3 is not a readable CIFAR batch"):
        load_data("cifar10", root=str(cifar_root), image_size=32, in_channels=3)
    out = tmp_path / "run"
    _one_line(capsys, ["run", str(_cifar_campaign(tmp_path, cifar_root)), "--out", str(out)], str(bad))
    assert not out.exists()


def test_a_cifar_file_with_another_md5_is_one_line_naming_it(cifar_root, tmp_path, capsys):
    bad = cifar_root / "cifar-10-batches-py" / "test_batch"
    data = bytearray(bad.read_bytes())
    data[-100] ^= 0xFF                                            # one flipped byte: still unpickles
    bad.write_bytes(bytes(data))
    out = tmp_path / "run"
    _one_line(capsys, ["train-supernet", str(_cifar_campaign(tmp_path, cifar_root)), "--out", str(out)],
              str(bad), "md5", cifar_files.CHECKSUMS["cifar10"]["test_batch"])
    assert not out.exists()


def test_a_pickle_that_is_not_a_cifar_batch_is_refused(cifar_root, monkeypatch):
    target = cifar_root / "cifar-10-batches-py" / "data_batch_1"
    target.write_bytes(pickle.dumps({"data": "x", "labels": []}))
    monkeypatch.setitem(cifar_files.CHECKSUMS, "cifar10", {})
    with pytest.raises(DatasetError, match="data_batch_1 is not a readable CIFAR batch"):
        load_data("cifar10", root=str(cifar_root), image_size=32, in_channels=3)
    target.write_bytes(pickle.dumps({"data": np.zeros((1, 3072), np.uint8), "labels": [0], "x": Path("/")}))
    with pytest.raises(DatasetError, match="unexpected object"):   # nothing but arrays is ever built
        load_data("cifar10", root=str(cifar_root), image_size=32, in_channels=3)


def test_an_unreadable_dvs_frame_file_is_one_line_naming_it_when_read(tmp_path):
    rng = np.random.default_rng(0)
    for split, n in (("train", 2), ("test", 2)):
        for label in range(11):
            folder = tmp_path / "events_np" / split / str(label)
            folder.mkdir(parents=True)
            for k in range(n):
                np.savez(folder / f"s{k}.npz", t=np.sort(rng.integers(0, 1000, 16)).astype(np.int64),
                         x=rng.integers(0, 128, 16).astype(np.uint16), y=rng.integers(0, 128, 16).astype(np.uint16),
                         p=rng.integers(0, 2, 16).astype(np.uint8))
    d = load_data("dvs128-gesture", root=str(tmp_path), image_size=128, in_channels=2, time_steps=2)
    path = Path(d.train.samples[3][0])
    path.write_bytes(b"not an npz")
    assert d.train[2][0].shape == (2, 2, 128, 128)                # the others still read
    with pytest.raises(DatasetError) as err:
        d.train[3]
    message = str(err.value)
    assert str(path) in message and "\n" not in message and "frames_number_2_split_by_number" in message
    with pytest.raises(DatasetError) as err:                       # from a DataLoader worker: still one line
        list(d.loader("train", 22, num_workers=1))
    assert str(err.value) == message
