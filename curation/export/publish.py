"""Where an export goes: a local folder, written whole or not at all, or a Hub dataset repo.

Both get the same files, in the Hub's layout (`load_dataset` reads either):

    README.md                              the dataset card
    data/train-00000-of-00001.parquet      (and data/test-... with a split)

The Hub push is one commit (all files, plus deleting shards of an earlier export that
this one no longer has), with the token `huggingface_hub` finds itself (`HF_TOKEN` or
the stored login): this module never reads it except to keep it out of error messages.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from datasets import DatasetDict
from huggingface_hub import DatasetCard

from curation.errors import CurationError

CARD = "README.md"
DATA = "data"


def shard_name(split: str) -> str:
    return f"{DATA}/{split}-00000-of-00001.parquet"


def write_files(folder: Path, splits: DatasetDict, card: DatasetCard) -> None:
    """The export's files in `folder` (which must be empty or new)."""
    (folder / DATA).mkdir(parents=True, exist_ok=True)
    for name, part in splits.items():
        part.to_parquet(str(folder / shard_name(name)))
    card.save(folder / CARD)


# --- local folder ---------------------------------------------------------------------


def check_local_dir(target: Path) -> None:
    """Refuse a file, or a folder that holds anything but an earlier export (it is replaced)."""
    if target.exists() and not target.is_dir():
        raise CurationError(f"--local-dir {target} is a file; give a folder")
    if target.is_dir() and any(target.iterdir()) and not _is_export(target):
        raise CurationError(
            f"--local-dir {target} holds other files; give a new or empty folder "
            "(an earlier export there is replaced)"
        )


def _is_export(folder: Path) -> bool:
    if not {p.name for p in folder.iterdir()} <= {CARD, DATA}:
        return False
    data = folder / DATA
    return not data.exists() or all(p.is_file() and p.suffix == ".parquet" for p in data.iterdir())


def write_local(target: Path, splits: DatasetDict, card: DatasetCard) -> None:
    """Write the export to `target`: built beside it, then swapped in, so a failure at any
    point leaves the earlier export (or nothing), never a half-written folder."""
    check_local_dir(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    previous = target.with_name(f".{target.name}.old-{os.getpid()}")
    for leftover in (staging, previous):
        shutil.rmtree(leftover, ignore_errors=True)
    try:
        staging.mkdir()
        write_files(staging, splits, card)
        if target.exists():
            os.rename(target, previous)
        try:
            os.rename(staging, target)
        except OSError:
            if previous.exists() and not target.exists():
                os.rename(previous, target)
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(previous, ignore_errors=True)


# --- Hub ---------------------------------------------------------------------------------


def check_repo_id(repo_id: str) -> None:
    """ORG/NAME with the Hub's characters, checked before anything is read or written."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        raise CurationError(f"--repo-id {repo_id!r} is not a valid Hub repo id") from None
    if repo_id.count("/") != 1:
        raise CurationError(f"--repo-id {repo_id!r}: give ORG/NAME (or USER/NAME)")


def check_hub_access() -> None:
    """A clear error before any work when the Hub cannot be used from here."""
    from huggingface_hub import constants, get_token

    if constants.is_offline_mode():
        raise CurationError(
            "HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is set, so the Hub cannot be reached: "
            "unset it to push, or export with --local-dir"
        )
    if not get_token():
        raise CurationError(
            "no Hugging Face token found (set HF_TOKEN or log in with `hf auth login`)"
        )


def push(repo_id: str, private: bool, splits: DatasetDict, card: DatasetCard, message: str) -> str:
    """Create the dataset repo if needed and commit the export to it; the repo's URL."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, get_token
    from huggingface_hub.errors import HfHubHTTPError, HTTPError, OfflineModeIsEnabled

    check_hub_access()
    api = HfApi()  # the token: HF_TOKEN or the stored login, as huggingface_hub finds it
    with tempfile.TemporaryDirectory(prefix="curation-export-") as tmp:
        folder = Path(tmp)
        write_files(folder, splits, card)
        files = {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*"))}
        files = {name: path for name, path in files.items() if path.is_file()}
        try:
            url = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
            if private and not api.repo_info(repo_id, repo_type="dataset").private:
                raise CurationError(
                    f"the Hub repo {repo_id} exists and is public; --private does not change "
                    "that: make it private on the Hub first, or push to another --repo-id"
                )
            stale = [
                name
                for name in api.list_repo_files(repo_id, repo_type="dataset")
                if name.startswith(f"{DATA}/") and name not in files
            ]
            operations = [
                CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(path))
                for name, path in files.items()
            ] + [CommitOperationDelete(path_in_repo=name) for name in stale]
            api.create_commit(repo_id, operations, commit_message=message, repo_type="dataset")
        except (HfHubHTTPError, HTTPError, OfflineModeIsEnabled, OSError) as error:
            text = f"pushing to the Hub repo {repo_id} failed: {error}".splitlines()[0]
            token = get_token()
            raise CurationError(text.replace(token, "***") if token else text) from None
    return str(url)
