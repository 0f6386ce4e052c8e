"""Self-training classifiers: creation from local weights, training and prediction, on tiny timm models."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, TensorDataset

from medgan_aug.selftrain import TrainSettings, adapt_input_conv, create_classifier, predict, train_classifier

# test_efficientnet trains in well under a second on 16 px images; test_resnet has a nested first conv name.
FAST = "test_efficientnet"
NESTED = "test_resnet"


def separable(n: int, seed: int, size: int = 16) -> TensorDataset:
    """Class 0 dark images, class 1 bright images, with noise; labels are int class indices."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    means = (labels.float() * 1.2 - 0.6)[:, None, None, None]
    images = (means + 0.2 * torch.randn(n, 1, size, size, generator=generator)).clamp(-1, 1)
    return TensorDataset(images, labels)


def one_hot(data: TensorDataset) -> TensorDataset:
    images, labels = data.tensors
    return TensorDataset(images, F.one_hot(labels, 2).float())


class ImagesOnly(Dataset):
    """An unlabelled pool: yields bare images."""

    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.images[index]


def fast_settings(**overrides) -> TrainSettings:
    values = {"epochs": 3, "batch_size": 16, "lr": 1e-2, "num_workers": 0}
    values.update(overrides)
    return TrainSettings(**values)


def new_model(seed: int = 0, name: str = FAST, num_classes: int = 2, in_chans: int = 1, **kwargs) -> torch.nn.Module:
    torch.manual_seed(seed)
    return create_classifier(name, num_classes, in_chans, **kwargs)


def saved_weights(tmp_path: Path, name: str, num_classes: int, in_chans: int) -> tuple[Path, dict]:
    state = new_model(7, name, num_classes, in_chans).state_dict()
    path = tmp_path / f"{name}_{num_classes}_{in_chans}.pt"
    torch.save(state, path)
    return path, state


@pytest.mark.parametrize(("in_chans", "num_classes"), [(1, 2), (3, 5)])
def test_create_classifier_shapes(in_chans: int, num_classes: int) -> None:
    model = new_model(0, NESTED, num_classes, in_chans).eval()
    assert model.state_dict()["conv1.0.weight"].shape[1] == in_chans
    assert model(torch.randn(2, in_chans, 32, 32)).shape == (2, num_classes)


def test_weights_with_other_head_drop_it_and_warn(tmp_path: Path) -> None:
    path, saved = saved_weights(tmp_path, NESTED, num_classes=5, in_chans=1)
    with pytest.warns(UserWarning, match=r"fc\.weight, fc\.bias"):
        model = new_model(1, NESTED, 2, 1, weights=path)
    loaded = model.state_dict()
    assert loaded["fc.weight"].shape == (2, saved["fc.weight"].shape[1])
    for key, value in saved.items():
        if not key.startswith("fc."):
            assert torch.equal(loaded[key], value), key


def test_weights_with_same_shapes_load_exactly_and_silently(tmp_path: Path) -> None:
    path, saved = saved_weights(tmp_path, NESTED, num_classes=3, in_chans=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = new_model(1, NESTED, 3, 1, weights=path)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in saved.items())


@pytest.mark.parametrize("in_chans", [1, 2])
def test_first_conv_adapts_to_other_in_chans(tmp_path: Path, in_chans: int) -> None:
    path, saved = saved_weights(tmp_path, NESTED, num_classes=3, in_chans=3)
    model = new_model(1, NESTED, 3, in_chans, weights=path).eval()
    reference = saved["conv1.0.weight"].double().sum(dim=1, keepdim=True) / in_chans
    adapted = model.state_dict()["conv1.0.weight"]
    assert adapted.shape[1] == in_chans
    torch.testing.assert_close(adapted.double(), reference.expand_as(adapted), rtol=1e-6, atol=1e-7)

    # The documented invariant: equal channels give the saved RGB network's output on the image repeated 3 times.
    rgb = new_model(1, NESTED, 3, 3, weights=path).eval()
    gray = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(gray.expand(-1, in_chans, -1, -1)), rgb(gray.expand(-1, 3, -1, -1)))


def test_adapt_input_conv_sums_to_one_channel() -> None:
    weight = torch.arange(24, dtype=torch.float32).reshape(2, 3, 2, 2)
    expected = weight.sum(dim=1, keepdim=True)
    assert torch.equal(adapt_input_conv(weight, 1), expected)


def test_unknown_model_lists_close_names() -> None:
    with pytest.raises(ValueError, match=r"'resnt18'.*close names:.*resnet18"):
        create_classifier("resnt18", 2, 1)


def test_missing_and_unfitting_weights(tmp_path: Path) -> None:
    missing = tmp_path / "absent.pt"
    with pytest.raises(FileNotFoundError, match=r"absent\.pt does not exist"):
        create_classifier(FAST, 2, 1, weights=missing)
    other, _ = saved_weights(tmp_path, NESTED, num_classes=2, in_chans=1)
    with pytest.raises(ValueError, match="does not fit timm model 'test_efficientnet'"):
        create_classifier(FAST, 2, 1, weights=other)
    junk = tmp_path / "junk.pt"
    torch.save([1, 2, 3], junk)
    with pytest.raises(ValueError, match="expected a state dict"):
        create_classifier(FAST, 2, 1, weights=junk)


@pytest.mark.parametrize(
    ("num_classes", "in_chans", "message"), [(0, 1, "num_classes"), (2, 0, "in_chans"), (2.0, 1, "num_classes")]
)
def test_create_classifier_rejects_bad_sizes(num_classes, in_chans, message: str) -> None:
    with pytest.raises(ValueError, match=f"{message} must be a positive integer"):
        create_classifier(FAST, num_classes, in_chans)


def test_training_separates_dark_from_bright() -> None:
    model = new_model()
    history = train_classifier(model, separable(64, 0), fast_settings(), val=separable(32, 1), progress=False)
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert set(history[0]) == {"epoch", "loss", "train_acc", "val_acc"}
    assert history[-1]["val_acc"] == 1.0
    assert history[-1]["loss"] < history[0]["loss"]
    assert not model.training


def test_a_last_batch_of_one_image_is_skipped_not_fatal() -> None:
    # 17 images in batches of 8 leave one image: BatchNorm cannot train on it, so that batch is dropped.
    model = new_model(0, NESTED)
    history = train_classifier(model, separable(17, 0), fast_settings(epochs=2, batch_size=8), progress=False)
    assert len(history) == 2 and all(np.isfinite(row["loss"]) for row in history)


def test_best_val_epoch_is_restored() -> None:
    # Validating on the training images with swapped labels: the better the fit, the lower val_acc.
    train = separable(64, 0)
    images, labels = train.tensors
    swapped = TensorDataset(images, 1 - labels)
    model = new_model()
    settings = fast_settings(epochs=5, optimizer="sgd", lr=3e-3)
    history = train_classifier(model, train, settings, val=swapped, progress=False)
    best = max(row["val_acc"] for row in history)
    assert history[-1]["val_acc"] < best  # otherwise the restore would go unnoticed
    probabilities = predict(model, swapped, num_workers=0)
    assert np.mean(probabilities.argmax(axis=1) == (1 - labels).numpy()) == best


def test_one_hot_and_int_labels_train_alike() -> None:
    by_index, by_vector = new_model(), new_model()
    settings = fast_settings(epochs=2)
    h_index = train_classifier(by_index, separable(32, 0), settings, progress=False)
    h_vector = train_classifier(by_vector, one_hot(separable(32, 0)), settings, progress=False)
    assert [r["train_acc"] for r in h_index] == [r["train_acc"] for r in h_vector]
    np.testing.assert_allclose([r["loss"] for r in h_index], [r["loss"] for r in h_vector], rtol=1e-5)
    for (key, a), b in zip(by_index.state_dict().items(), by_vector.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=key)


def test_same_seed_same_weights_other_seed_differs() -> None:
    runs = []
    for seed in (3, 3, 4):
        model = new_model()
        history = train_classifier(model, separable(32, 0), fast_settings(epochs=2, seed=seed), progress=False)
        runs.append((history, model.state_dict()))
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(a, b) for a, b in zip(runs[0][1].values(), runs[1][1].values(), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(runs[0][1].values(), runs[2][1].values(), strict=True))


def test_training_leaves_global_random_state_alone() -> None:
    torch.manual_seed(11)
    expected = torch.rand(3)
    torch.manual_seed(11)
    train_classifier(new_model(), separable(16, 0), fast_settings(epochs=1), progress=False)
    torch.manual_seed(11)
    assert torch.equal(torch.rand(3), expected)


def test_predict_is_softmax_of_the_model_in_eval_mode() -> None:
    model = new_model()
    train_classifier(model, separable(32, 0), fast_settings(epochs=1), progress=False)
    model.train()
    data = separable(20, 5)
    images = data.tensors[0]
    probabilities = predict(model, data, batch_size=8, num_workers=0)
    assert model.training  # the caller's mode comes back
    model.eval()
    with torch.no_grad():
        reference = torch.softmax(model(images).double(), dim=1).numpy()
    assert probabilities.shape == (20, 2)
    assert probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(probabilities, reference, rtol=1e-5, atol=1e-6)
    # Unlabelled pools, worker processes and batch boundaries do not change the result.
    pooled = predict(model, ImagesOnly(images), batch_size=7, num_workers=2)
    np.testing.assert_allclose(pooled, probabilities, rtol=1e-5, atol=1e-6)


def test_predict_resizes_to_image_size() -> None:
    model = new_model().eval()
    images = separable(6, 2, size=32).tensors[0]
    resized = F.interpolate(images.double(), size=(16, 16), mode="bilinear", align_corners=False, antialias=True)
    with torch.no_grad():
        reference = torch.softmax(model(resized.float()).double(), dim=1).numpy()
    np.testing.assert_allclose(predict(model, ImagesOnly(images), num_workers=0, image_size=16), reference, atol=1e-5)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"batch_size": -1}, "batch_size must be a positive integer"),
        ({"lr": 0.0}, "lr must be a positive"),
        ({"weight_decay": -0.1}, "weight_decay must be"),
        ({"optimizer": "adam"}, "optimizer must be one of"),
        ({"image_size": 0}, "image_size must be a positive integer"),
        ({"num_workers": -1}, "num_workers must be an integer >= 0"),
    ],
)
def test_train_settings_reject_bad_values(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainSettings(**overrides)


def test_bad_datasets_and_labels_have_clear_errors() -> None:
    empty = TensorDataset(torch.zeros(0, 1, 16, 16), torch.zeros(0, dtype=torch.int64))
    with pytest.raises(ValueError, match="train dataset is empty"):
        train_classifier(new_model(), empty, fast_settings(), progress=False)
    with pytest.raises(ValueError, match="val dataset is empty"):
        train_classifier(new_model(), separable(8, 0), fast_settings(), val=empty, progress=False)
    with pytest.raises(ValueError, match="data dataset is empty"):
        predict(new_model(), empty, num_workers=0)
    images = separable(8, 0).tensors[0]
    out_of_range = TensorDataset(images, torch.full((8,), 2))
    with pytest.raises(ValueError, match=r"class indices must lie in \[0, 1\]"):
        train_classifier(new_model(), out_of_range, fast_settings(), progress=False)
    three_long = TensorDataset(images, torch.ones(8, 3))
    with pytest.raises(ValueError, match="length 3 but the model has 2 outputs"):
        train_classifier(new_model(), three_long, fast_settings(), progress=False)


def test_augment_flips_and_crops_within_the_image() -> None:
    from medgan_aug.selftrain.classifier import _augment

    # A left-to-right ramp: a crop stays a monotone ramp, a flip reverses it, and nothing leaves [-1, 1].
    ramp = torch.linspace(-1, 1, 32).expand(64, 1, 32, 32).contiguous()
    out = _augment(ramp, torch.Generator().manual_seed(0))
    rows = out[:, 0, 16, :].double()
    steps = rows.diff(dim=1)
    increasing, decreasing = (steps > 0).all(dim=1), (steps < 0).all(dim=1)
    assert bool((increasing | decreasing).all())
    assert 10 < int(decreasing.sum()) < 54  # flips happen about half the time (binomial, p = 0.5, n = 64)
    # Rows stay equal: the crop mixes nothing across rows of a ramp that only varies along x.
    torch.testing.assert_close(out, out[:, :, :1, :].expand_as(out), rtol=0, atol=1e-6)
    span = rows.max(dim=1).values - rows.min(dim=1).values
    full = ramp[0, 0, 0, -1] - ramp[0, 0, 0, 0]
    # Crops keep 80-100 % of the area, so a side of at least sqrt(0.8) of the image (less one pixel of edge).
    assert bool((span >= (0.8**0.5 - 1 / 16) * full).all()) and bool((span <= full + 1e-6).all())
    assert torch.equal(out, _augment(ramp, torch.Generator().manual_seed(0)))


def test_training_needs_labelled_pairs() -> None:
    with pytest.raises(ValueError, match=r"train must yield \(image, label\) pairs"):
        train_classifier(new_model(), ImagesOnly(separable(8, 0).tensors[0]), fast_settings(), progress=False)
