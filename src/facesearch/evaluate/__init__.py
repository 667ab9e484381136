"""Evaluation: accuracy metrics, protocol readers and plots (issue 3, "Accuracy you can state").

``metrics`` and ``protocols`` need only NumPy; ``plots`` imports matplotlib (the ``eval``
extra) when a plotting function is called.
"""

from __future__ import annotations

from facesearch.evaluate.group_metrics import (
    GroupRates,
    PerGroupRates,
    QualityBin,
    accuracy_by_quality_bin,
    per_group_error_rates,
)
from facesearch.evaluate.metric_inputs import (
    FailureScores,
    FteCounts,
    fte_counts,
    scores_with_failures,
)
from facesearch.evaluate.metrics import (
    EerResult,
    KFoldResult,
    OperatingPoint,
    RocCurve,
    best_accuracy_threshold,
    eer,
    kfold_verification_accuracy,
    roc_curve,
    tar_at_far,
    threshold_for_far,
)
from facesearch.evaluate.protocols import (
    IMAGE_EXTENSIONS,
    LabelledImage,
    ProtocolFormatError,
    VerificationPair,
    pair_labels_and_folds,
    read_cfp_list,
    read_cfp_protocol,
    read_identity_folders,
    read_lfw_pairs,
    read_manifest,
    read_pair_table,
)
from facesearch.evaluate.rank_metrics import (
    OpenSetPoint,
    RankAccuracy,
    fnir_at_fpir,
    rank_k_accuracy,
)
from facesearch.evaluate.splits import IdentificationSplit, make_identification_split

__all__ = [
    "IMAGE_EXTENSIONS",
    "EerResult",
    "FailureScores",
    "FteCounts",
    "GroupRates",
    "IdentificationSplit",
    "KFoldResult",
    "LabelledImage",
    "OpenSetPoint",
    "OperatingPoint",
    "PerGroupRates",
    "ProtocolFormatError",
    "QualityBin",
    "RankAccuracy",
    "RocCurve",
    "VerificationPair",
    "accuracy_by_quality_bin",
    "best_accuracy_threshold",
    "eer",
    "fnir_at_fpir",
    "fte_counts",
    "kfold_verification_accuracy",
    "make_identification_split",
    "pair_labels_and_folds",
    "per_group_error_rates",
    "rank_k_accuracy",
    "read_cfp_list",
    "read_cfp_protocol",
    "read_identity_folders",
    "read_lfw_pairs",
    "read_manifest",
    "read_pair_table",
    "roc_curve",
    "scores_with_failures",
    "tar_at_far",
    "threshold_for_far",
]
