"""Point-in-time-correct training sets from the Delta offline store."""

from weir.training.builder import TrainingSet, build, write_training_set
from weir.training.readers import feature_dataset, read_feature_table, read_training_set
from weir.training.refs import TrainingSetError

__all__ = ["TrainingSet", "TrainingSetError", "build", "feature_dataset", "read_feature_table", "read_training_set",
           "write_training_set"]
