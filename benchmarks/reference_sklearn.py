"""The bare scikit-learn script a user would run instead of ``python -m trainer``: no tracking.

    python benchmarks/reference_sklearn.py

Loads digits, holds out a test part, fits an ``MLPClassifier`` shaped like the trainer's default
run (64-32 ReLU, Adam, batch 64, at most 100 epochs, early stopping with patience 10 on a
validation part) and prints the test accuracy.
"""

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0,
                                                    stratify=y)
scaler = StandardScaler().fit(X_train)
model = MLPClassifier(hidden_layer_sizes=(64, 32), batch_size=64, max_iter=100,
                      early_stopping=True, validation_fraction=0.25, n_iter_no_change=10,
                      random_state=0)
model.fit(scaler.transform(X_train), y_train)
print(f"test accuracy {model.score(scaler.transform(X_test), y_test):.4f}")
