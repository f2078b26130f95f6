"""Measuring a face detector's bias: detection rates per group and where the sampling goes."""

from __future__ import annotations

import numpy as np

from labs.faces.dataset import GROUPS, SKIN_TONES, FaceImages
from labs.faces.labelled import LabelledFaces

def group_counts(data: FaceImages) -> dict[str, int]:
    """Number of faces per group of :data:`GROUPS`, plus ``"non-faces"``."""
    is_face = np.asarray(data.labels).reshape(-1) == 1
    counts = {name: int(np.sum(is_face & (data.group == index))) for index, name in enumerate(GROUPS)}
    counts["non-faces"] = int(np.sum(~is_face))
    return counts


def predict_logits(predict, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Run ``predict`` (images float32 batch -> (b, 1) face logits) over uint8 or float images.

    Returns (N,) float logits; positive means "face".
    """
    outputs = []
    for start in range(0, len(images), batch_size):
        batch = np.asarray(images[start : start + batch_size])
        if batch.dtype == np.uint8:
            batch = batch.astype(np.float32) / 255.0
        logits = predict(batch)
        logits = logits.numpy() if hasattr(logits, "numpy") else np.asarray(logits)
        outputs.append(logits.reshape(len(batch), -1)[:, 0])
    return np.concatenate(outputs) if outputs else np.zeros(0)


def evaluate_groups(logits: np.ndarray, data: FaceImages) -> dict[str, float]:
    """Accuracy of face/non-face decisions (logit > 0 means face), overall and per group.

    Args:
        logits: (N,) face logits for ``data``'s images.
        data: a test set with known groups (e.g. from :func:`generated_face_sets`).

    Returns:
        ``{"overall", "non-faces", <each group of GROUPS>, "worst group", "gap"}``,
        accuracies in [0, 1]; a group's accuracy is the fraction of its faces
        detected, ``gap`` is best minus worst group.
    """
    logits = np.asarray(logits, dtype=float).reshape(-1)
    labels = np.asarray(data.labels).reshape(-1)
    if logits.shape != labels.shape:
        raise ValueError(f"need one logit per image ({labels.shape[0]}), got shape {logits.shape}.")
    correct = (logits > 0) == (labels == 1)
    is_face = labels == 1
    result = {"overall": float(correct.mean()), "non-faces": float(correct[~is_face].mean())}
    per_group = []
    for index, name in enumerate(GROUPS):
        members = is_face & (data.group == index)
        if members.any():
            result[name] = float(correct[members].mean())
            per_group.append(result[name])
    if not per_group:
        raise ValueError("the test set has no faces with known groups; use the generated test set.")
    result["worst group"] = min(per_group)
    result["gap"] = max(per_group) - min(per_group)
    return result


def share_by_tone(p_pos: np.ndarray, face_tone: np.ndarray) -> dict[str, float]:
    """How much sampling probability ``p_pos`` (num_faces,) puts on each skin tone."""
    p_pos = np.asarray(p_pos, dtype=float).reshape(-1)
    face_tone = np.asarray(face_tone).reshape(-1)
    if p_pos.shape != face_tone.shape:
        raise ValueError(f"p_pos and face_tone must both have one entry per face, got {p_pos.shape} and {face_tone.shape}.")
    total = p_pos.sum()
    return {tone: float(p_pos[face_tone == index].sum() / total) for index, tone in enumerate(SKIN_TONES)}


def evaluate_labelled_groups(logits: np.ndarray, faces: LabelledFaces) -> dict[str, float]:
    """Detection rate of real labelled faces (logit > 0 means face), overall and per group.

    Args:
        logits: (N,) face logits for ``faces``' images.
        faces: real faces with groups, e.g. from :func:`labs.faces.fairface_faces`.

    Returns:
        ``{"overall", <each group, alphabetical>, "worst group", "gap"}``, rates in [0, 1]:
        a group's rate is the fraction of its faces called a face; ``gap`` is best minus
        worst group. Every image is a face, so there is no non-face accuracy.
    """
    logits = np.asarray(logits, dtype=float).reshape(-1)
    if logits.shape != (len(faces),):
        raise ValueError(f"need one logit per image ({len(faces)}), got shape {logits.shape}.")
    detected = logits > 0
    result = {"overall": float(detected.mean())}
    for group in sorted(set(faces.groups.tolist())):
        result[group] = float(detected[faces.groups == group].mean())
    per_group = [value for key, value in result.items() if key != "overall"]
    result["worst group"] = min(per_group)
    result["gap"] = max(per_group) - min(per_group)
    return result
