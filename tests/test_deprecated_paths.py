"""Names that moved keep their old import paths for one release, with a DeprecationWarning naming the new one."""

from __future__ import annotations

import importlib
import warnings

import pytest

import medgan_aug.generate

MOVED = [
    ("medgan_aug.data", "load_generator"),
    ("medgan_aug.data", "synthesize"),
    ("medgan_aug.data", "checkpoint_hash"),
    ("medgan_aug.data.synthetic", "load_generator"),
    ("medgan_aug.data.synthetic", "synthesize"),
    ("medgan_aug.data.synthetic", "checkpoint_hash"),
    ("medgan_aug.data.synthetic", "generator_inputs"),
    ("medgan_aug.data.synthetic", "class_indices"),
    ("medgan_aug.data.synthetic", "MAX_SEED"),
    ("medgan_aug.data.synthetic", "SEED_REGISTRY"),
]
# Helpers that left the subpackages' public API (they stay importable from their modules).
UNLISTED = [
    ("medgan_aug.nets", "medgan_aug.nets.architectures", "Generator"),
    ("medgan_aug.nets", "medgan_aug.nets.checkpoint", "atomic_save"),
    ("medgan_aug.nets", "medgan_aug.nets.generator_like", "check_sampling"),
    ("medgan_aug.nets", "medgan_aug.nets.generator_like", "generator_device"),
    ("medgan_aug.nets", "medgan_aug.nets.generator_like", "generator_image_channels"),
    ("medgan_aug.nets", "medgan_aug.nets.generator_like", "is_native_generator"),
    ("medgan_aug.selftrain", "medgan_aug.formats", "CLASSIFIER_FORMAT"),
    ("medgan_aug.selftrain", "medgan_aug.nets.classifiers", "CUSTOM_MODEL_PREFIX"),
    ("medgan_aug.selftrain", "medgan_aug.nets.classifiers", "check_model_name"),
    ("medgan_aug.train", "medgan_aug.formats", "TRAINING_FORMAT"),
    ("medgan_aug.train", "medgan_aug.train.reports", "append_stats"),
    ("medgan_aug.train", "medgan_aug.plots", "plot_curves"),
    ("medgan_aug.augment", "medgan_aug.augment.wavelets", "SYM2"),
    ("medgan_aug.augment", "medgan_aug.augment.wavelets", "SYM6"),
    ("medgan_aug.augment", "medgan_aug.augment.wavelets", "band_filter_bank"),
]
RENAMED_MODULES = [("medgan_aug.ops._extension", "medgan_aug.ops.extension", name) for name in ("LIB_ENV_VAR", "build")]


@pytest.mark.parametrize(("old", "name"), MOVED)
def test_an_old_path_gives_the_same_object_with_a_warning_naming_the_new_one(old, name):
    module = importlib.import_module(old)
    with pytest.warns(DeprecationWarning, match=rf"{old}\.{name} moved to medgan_aug\.generate.*{name}.*0\.3"):
        value = getattr(module, name)
    assert value is getattr(medgan_aug.generate, name)


@pytest.mark.parametrize(("old", "new", "name"), RENAMED_MODULES)
def test_a_renamed_module_serves_its_names_with_a_warning(old, new, name):
    with pytest.warns(DeprecationWarning, match=rf"{old}\.{name} moved to {new}\.{name}"):
        value = getattr(importlib.import_module(old), name)
    assert value is getattr(importlib.import_module(new), name)


@pytest.mark.parametrize(("old", "new", "name"), UNLISTED)
def test_an_unlisted_helper_still_resolves_with_a_warning(old, new, name):
    package = importlib.import_module(old)
    assert name not in package.__all__
    with pytest.warns(DeprecationWarning, match=rf"{old}\.{name} moved to {new}\.{name}"):
        value = getattr(package, name)
    assert value is getattr(importlib.import_module(new), name)


@pytest.mark.parametrize("package", ["ops", "nets", "augment", "data", "generate", "train", "metrics", "selftrain"])
def test_every_listed_name_resolves_without_a_warning(package):
    module = importlib.import_module(f"medgan_aug.{package}")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        missing = [name for name in module.__all__ if getattr(module, name, None) is None]
    assert missing == []


def test_from_import_of_an_old_name_warns():
    with pytest.warns(DeprecationWarning, match="medgan_aug.data.synthesize moved"):
        from medgan_aug.data import synthesize
    assert synthesize is medgan_aug.generate.synthesize


def test_the_new_paths_and_the_package_root_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from medgan_aug import load_generator, synthesize
        from medgan_aug.generate import checkpoint_hash

    assert (load_generator, synthesize, checkpoint_hash) == (
        medgan_aug.generate.load_generator,
        medgan_aug.generate.synthesize,
        medgan_aug.generate.checkpoint_hash,
    )


def test_a_name_the_old_module_never_had_is_an_attribute_error():
    import medgan_aug.data
    import medgan_aug.data.synthetic

    with pytest.raises(AttributeError, match=r"'medgan_aug\.data' has no attribute 'no_such_name'"):
        medgan_aug.data.no_such_name  # noqa: B018
    with pytest.raises(AttributeError, match="no attribute 'train_step'"):
        medgan_aug.data.synthetic.train_step  # noqa: B018
