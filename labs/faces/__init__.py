"""Face detection data, bias measurement and pictures for the debiasing lab.

Three sources of 64x64 RGB images:

* a generated set drawn with NumPy (:mod:`labs.faces.generated`), whose faces have
  known attributes (skin tone light/dark, hair short/long), so that a detector's
  accuracy can be measured exactly per group (:func:`generated_face_sets`);
* the real training set (:mod:`labs.faces.training_set`), one HDF5 file with
  ``images`` (N, 64, 64, 3) uint8 and ``labels`` (N, 1), 1 = face, 0 = not a face,
  downloaded once with :func:`labs.data.fetch` (:func:`real_training_set`);
* real faces with per-person demographic labels (:mod:`labs.faces.labelled`), a folder
  of images plus a labels CSV such as FairFace's (:func:`load_labelled_faces`), for
  measuring a detector's bias on real people.

Training sets share one loader interface (:class:`FaceDataset`, in
:mod:`labs.faces.dataset`); :mod:`labs.faces.bias` measures accuracy per group and
:mod:`labs.faces.plots` draws the figures. Images are float32 in [0, 1] once loaded,
channels last (RGB). Nothing here runs at import time; TensorFlow is never imported.
"""

from labs.faces.bias import evaluate_groups, evaluate_labelled_groups, group_counts, predict_logits, share_by_tone
from labs.faces.dataset import (
    GROUPS,
    HAIR_STYLES,
    IMAGE_SIZE,
    MAX_SHIFT,
    SKIN_TONES,
    FaceDataset,
    FaceImages,
    augment_images,
)
from labs.faces.generated import (
    FEATURE_CONTRAST,
    NOISE_STD,
    feature_colours,
    generate_faces,
    generated_face_sets,
)
from labs.faces.labelled import (
    FAIRFACE_GROUP_COLUMN,
    FAIRFACE_LABELS_CSV,
    FAIRFACE_LICENCE,
    FAIRFACE_PAGE,
    FAIRFACE_SOURCE_VARIABLE,
    LabelledFaces,
    check_labelled_archive,
    fairface_faces,
    load_labelled_faces,
)
from labs.faces.plots import (
    plot_examples,
    plot_group_accuracy,
    plot_latent_traversal,
    plot_ranked_faces,
    plot_reconstructions,
)
from labs.faces.training_set import (
    TRAIN_FACES_LICENCE,
    TRAIN_FACES_MIRRORS,
    TRAIN_FACES_PAGE,
    TRAIN_FACES_SHA256,
    TRAIN_FACES_URL,
    check_face_hdf5,
    load_face_hdf5,
    real_training_set,
)

__all__ = [
    "FAIRFACE_GROUP_COLUMN", "FAIRFACE_LABELS_CSV", "FAIRFACE_LICENCE", "FAIRFACE_PAGE", "FAIRFACE_SOURCE_VARIABLE",
    "FEATURE_CONTRAST", "GROUPS", "HAIR_STYLES", "IMAGE_SIZE", "MAX_SHIFT", "NOISE_STD", "SKIN_TONES",
    "TRAIN_FACES_LICENCE", "TRAIN_FACES_MIRRORS", "TRAIN_FACES_PAGE", "TRAIN_FACES_SHA256", "TRAIN_FACES_URL",
    "FaceDataset", "FaceImages", "LabelledFaces", "augment_images", "check_face_hdf5", "check_labelled_archive",
    "evaluate_groups", "evaluate_labelled_groups", "fairface_faces", "feature_colours", "generate_faces",
    "generated_face_sets", "group_counts", "load_face_hdf5", "load_labelled_faces", "plot_examples",
    "plot_group_accuracy", "plot_latent_traversal", "plot_ranked_faces", "plot_reconstructions", "predict_logits",
    "real_training_set", "share_by_tone",
]
