"""The reader's model and training loop: an answer/abstain head and a span head, trained jointly,
checkpointed so that a run on these slow CPUs can stop and go on.

The model is the base encoder with two heads: the sequence classifier's one logit on [CLS] ("this
sentence answers the question"), what the answerer thresholds, and a start/end pair of logits per
word piece, read only over the sentence's own word pieces (not the question, not the title after
its [SEP]). The span loss counts only on positive pairs whose answer offsets are known: a sentence
that does not answer has no span to learn.

A checkpoint holds the weights, the optimizer's and the schedule's state, the step, the epoch and
the batch within it, the batch order's and torch's random states, and a fingerprint of the pairs
and settings; `train(..., resume=True)` refuses a checkpoint from other pairs or settings, and a
resumed run takes the very steps the uninterrupted run would have (same batches, same dropout).
Written every `checkpoint_every` steps and at the end, beside the old one and then renamed over it.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

from reader_data import Pair

from assistant.answer.reader import load_tokenizer

SPAN_TOKENS = 30  # the longest answer the span head proposes, in word pieces (SQuAD answers: 3 words median)


def _torch():
    import torch

    return torch


class ReaderModel(_torch().nn.Module):
    """The sequence classifier (exported and shipped as before) plus a span head on its last layer."""

    def __init__(self, classifier):
        torch = _torch()
        super().__init__()
        self.classifier = classifier
        self.span = torch.nn.Linear(classifier.config.hidden_size, 2)

    def forward(self, input_ids, attention_mask, token_type_ids):
        out = self.classifier(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                              output_hidden_states=True)
        start, end = self.span(out.hidden_states[-1]).float().unbind(-1)
        return out.logits[:, 0], start, end

    @classmethod
    def from_base(cls, base: str) -> ReaderModel:
        from transformers import AutoModelForSequenceClassification

        return cls(AutoModelForSequenceClassification.from_pretrained(base, num_labels=1))

    def save(self, directory: Path) -> None:
        """The classifier as a transformers folder (what `export` and `--reuse` read) and the span head beside it."""
        torch = _torch()
        self.classifier.save_pretrained(directory)
        torch.save(self.span.state_dict(), directory / "span_head.pt")

    @classmethod
    def load(cls, directory: Path) -> ReaderModel:
        torch = _torch()
        model = cls.from_base(str(directory))
        model.span.load_state_dict(torch.load(directory / "span_head.pt", weights_only=True))
        return model.eval()


def collate(tokenizer, rows: list[Pair]) -> dict:
    """Model inputs, the sentence mask (which word pieces the span head may choose), each piece's
    characters in the text, and span targets (-1 where there is none: not positive, unknown, cut)."""
    torch = _torch()
    import numpy as np

    encodings = tokenizer.encode_batch([(r.question, r.text) for r in rows])
    width = len(encodings[0].ids)
    mask = np.zeros((len(rows), width), dtype=bool)
    starts, ends = np.full(len(rows), -1), np.full(len(rows), -1)
    offsets = []
    for b, (e, r) in enumerate(zip(encodings, rows)):
        sentence_end = len(r.text.split(" [SEP] ")[0])
        for t, (sequence, (cs, ce)) in enumerate(zip(e.sequence_ids, e.offsets)):
            if sequence == 1 and ce <= sentence_end and ce > cs:
                mask[b, t] = True
        offsets.append(e.offsets)
        if r.label and r.answer:
            a, z = r.answer
            inside = [t for t in np.flatnonzero(mask[b]) if e.offsets[t][1] > a and e.offsets[t][0] < z]
            if inside:
                starts[b], ends[b] = inside[0], inside[-1]
    return {
        "inputs": {"input_ids": torch.tensor([e.ids for e in encodings]),
                   "attention_mask": torch.tensor([e.attention_mask for e in encodings]),
                   "token_type_ids": torch.tensor([e.type_ids for e in encodings])},
        "sentence": torch.from_numpy(mask), "start": torch.from_numpy(starts), "end": torch.from_numpy(ends),
        "offsets": offsets,
    }


def span_loss(start, end, sentence, start_gold, end_gold):
    """Mean of the start and end cross-entropies over the sentence's pieces, on rows with a target."""
    torch = _torch()
    rows = start_gold >= 0
    if not bool(rows.any()):
        return start.new_zeros(())
    hide = ~sentence[rows]
    s, e = start[rows].masked_fill(hide, -1e4), end[rows].masked_fill(hide, -1e4)
    ce = torch.nn.functional.cross_entropy
    return (ce(s, start_gold[rows]) + ce(e, end_gold[rows])) / 2


def best_spans(start, end, sentence, offsets, texts: list[str]) -> list[tuple[int, int]]:
    """Per row, the characters of the best span (start <= end, at most SPAN_TOKENS pieces) in its sentence."""
    torch = _torch()
    out = []
    for b in range(start.shape[0]):
        allowed = sentence[b]
        if not bool(allowed.any()):
            out.append((0, 0))
            continue
        s = start[b].float().masked_fill(~allowed, -1e4)
        e = end[b].float().masked_fill(~allowed, -1e4)
        score = s[:, None] + e[None, :]
        n = score.shape[0]
        i, j = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
        valid = (j >= i) & (j - i < SPAN_TOKENS) & allowed[:, None] & allowed[None, :]
        flat = int(score.masked_fill(~valid, -1e9).argmax())
        si, ei = divmod(flat, n)
        out.append((offsets[b][si][0], offsets[b][ei][1]))
    return out


def fingerprint(pairs: list[Pair], settings: dict) -> str:
    """What a checkpoint must match to be resumed: the pairs in order and the settings."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for p in pairs:
        digest.update(json.dumps(p).encode())
    return digest.hexdigest()[:16]


def save_checkpoint(path: Path, state: dict) -> None:
    """torch.save beside `path`, then rename over it: a run killed mid-write leaves the old one whole."""
    torch = _torch()
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def questions_of(pairs: list) -> list[list[int]]:
    """Pair indices grouped by question: pairs are written question by question."""
    groups: list[list[int]] = []
    for i, pair in enumerate(pairs):
        if not groups or pairs[groups[-1][0]][0] != pair[0]:
            groups.append([])
        groups[-1].append(i)
    return groups


def batches(units: list[list[int]], pairs: list, batch: int, rng: random.Random) -> list[list[list[int]]]:
    """One epoch's batches of whole units (a pair, or a question's pairs), about `batch` pairs each.

    Length-bucketed: units shuffled, sorted by length within windows of about 50 batches, packed,
    and the batches shuffled, so a batch pads little (measured: see docs/EVALUATION.md).
    """
    order = units[:]
    rng.shuffle(order)
    size = lambda unit: sum(len(pairs[i][0]) + len(pairs[i][1]) for i in unit) / len(unit)  # noqa: E731
    windows, window, held = [], [], 0
    for unit in order:
        window.append(unit)
        held += len(unit)
        if held >= batch * 50:
            windows.append(window)
            window, held = [], 0
    windows.append(window)
    out, current, held = [], [], 0
    for unit in (u for w in windows for u in sorted(w, key=size)):
        current.append(unit)
        held += len(unit)
        if held >= batch:
            out.append(current)
            current, held = [], 0
    if current:
        out.append(current)
    rng.shuffle(out)
    return out


def listwise_loss(logits, labels, sizes: list[int]):
    """Mean over questions of -log P(an answering sentence), or -log P(null) when none answers,
    under a softmax over [0 (no answer), each sentence's logit]."""
    torch = _torch()
    losses = []
    for s, y in zip(logits.split(sizes), labels.split(sizes)):
        everything = torch.logsumexp(torch.cat([s.new_zeros(1), s]), 0)
        positive = y > 0
        losses.append(everything - torch.logsumexp(s[positive], 0) if bool(positive.any()) else everything)
    return torch.stack(losses).mean()


def answer_loss(logits, rows: list, sizes: list[int], objective: str):
    """The answer/abstain head's loss; a row's first-stage log-odds, when it has them, are added first
    (`--residual`: the model learns only what the first stage gets wrong)."""
    torch = _torch()
    rows = [Pair.of(r) for r in rows]
    labels = torch.tensor([float(r.label) for r in rows])
    logits = logits.float() + torch.tensor([r.first_stage or 0.0 for r in rows])
    if objective == "listwise":
        return listwise_loss(logits, labels, sizes)
    return torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)


def train(pairs: list, base: str, epochs: int, batch: int = 32, lr: float = 5e-5, seed: int = 0,
          max_steps: int | None = None, bf16: bool = False, objective: str = "pairwise", span_weight: float = 0.0,
          checkpoint: Path | None = None, checkpoint_every: int = 200, resume: bool = False,
          stop_after: int | None = None, log=sys.stderr):
    """Fine-tune `base` on (question, text) -> answers or not, and the span where it does.

    Args:
        pairs: `Pair`s or the older (question, text, label[, log-odds]) tuples.
        max_steps: caps the schedule's length (the one-cycle schedule spans exactly these steps).
        span_weight: the span loss's weight beside the answer loss; 0 trains no span head.
        checkpoint: where the training state is written (every `checkpoint_every` steps, at the end).
        resume: go on from `checkpoint` if it exists (same pairs and settings, else an error).
        stop_after: stop (checkpointed) after this many steps in all, the schedule unchanged: a run
            split in parts ends where the whole run would.

    Returns:
        (the `ReaderModel`, seconds trained over all parts, steps done).
    """
    torch = _torch()
    pairs = [Pair.of(p) for p in pairs]
    settings = {"base": Path(base).name, "epochs": epochs, "batch": batch, "lr": lr, "seed": seed,
                "max_steps": max_steps, "bf16": bf16, "objective": objective, "span_weight": span_weight}
    print_ = lambda *a: print(*a, file=log, flush=True)  # noqa: E731
    torch.manual_seed(seed)
    tokenizer = load_tokenizer(Path(base) / "tokenizer.json")
    model = ReaderModel.from_base(base)
    model.train()
    units = questions_of(pairs) if objective == "listwise" else [[i] for i in range(len(pairs))]
    steps_per_epoch = len(batches(units, pairs, batch, random.Random(seed)))
    total = min(max_steps or 10**9, steps_per_epoch * epochs)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=total, pct_start=0.1,
                                                   anneal_strategy="linear")
    rng = random.Random(seed)
    step, first_epoch, skip, earlier = 0, 0, 0, 0.0
    epoch_rng = rng.getstate()
    key = fingerprint(pairs, settings)
    if resume and checkpoint is not None and checkpoint.exists():
        state = torch.load(checkpoint, weights_only=False)
        if state["fingerprint"] != key:
            raise SystemExit(f"checkpoint {checkpoint} was written for other pairs or settings ({state['settings']}); "
                             f"use its --work's pairs and flags, or another --work")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        step, first_epoch, skip, earlier = state["step"], state["epoch"], state["batch_in_epoch"], state["seconds"]
        epoch_rng = state["epoch_rng"]
        torch.set_rng_state(state["torch_rng"])
        print_(f"resumed {checkpoint} at step {step}/{total} (epoch {first_epoch + 1}, batch {skip})")

    began = time.perf_counter()

    def save(epoch: int, done_in_epoch: int) -> None:
        if checkpoint is None:
            return
        save_checkpoint(checkpoint, {
            "fingerprint": key, "settings": settings, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "schedule": schedule.state_dict(), "step": step, "total": total, "epoch": epoch,
            "batch_in_epoch": done_in_epoch,
            "epoch_rng": epoch_rng, "torch_rng": torch.get_rng_state(),
            "seconds": earlier + time.perf_counter() - began, "pairs": len(pairs)})

    stop = min(total, stop_after or total)
    epoch, done_in_epoch = first_epoch, skip
    for epoch in range(first_epoch, epochs):
        if epoch != first_epoch:
            epoch_rng = rng.getstate()
        rng.setstate(epoch_rng)
        order = batches(units, pairs, batch, rng)
        running, done_in_epoch = [], (skip if epoch == first_epoch else 0)
        for group in order[done_in_epoch:]:
            if step >= stop:
                break
            rows = [pairs[i] for unit in group for i in unit]
            b = collate(tokenizer, rows)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                logits, start, end = model(**b["inputs"])
            loss = answer_loss(logits, rows, [len(unit) for unit in group], objective)
            if span_weight:
                loss = loss + span_weight * span_loss(start, end, b["sentence"], b["start"], b["end"])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            step += 1
            done_in_epoch += 1
            running.append(loss.item())
            if step % 50 == 0:
                print_(f"epoch {epoch + 1} step {step}/{total} loss {statistics.mean(running[-50:]):.4f} "
                       f"{earlier + time.perf_counter() - began:.0f} s")
            if checkpoint is not None and step % checkpoint_every == 0:
                save(epoch, done_in_epoch)
        if step >= stop:
            break
    if done_in_epoch >= len(order) and epoch + 1 < epochs:  # the epoch ended with the run: the next starts afresh
        epoch, done_in_epoch, epoch_rng = epoch + 1, 0, rng.getstate()
    save(epoch, done_in_epoch)
    model.eval()
    return model, earlier + time.perf_counter() - began, step
