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
