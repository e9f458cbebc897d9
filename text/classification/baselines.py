"""The classical baseline a sentence classifier is judged beside:
scikit-learn's TF-IDF + logistic regression on the same split."""

from text.classification.data import check_examples

TFIDF_C_GRID = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)


def tfidf_baseline(train, test, val=None, c_grid=TFIDF_C_GRID, seed=0):
    """scikit-learn's TF-IDF (word 1-2 grams, sublinear tf) + logistic
    regression, the baseline a practitioner tries first, on the same split.

    The inverse regularisation `C` is chosen on `val` (the same validation
    split the recurrent model stops on) from `c_grid`; without `val`, C=1.

    Args:
        train, test: `(sentence, label)` pairs.
        val: validation pairs that choose `C` (None: C=1).
        c_grid: the values of `C` tried.
        seed: `random_state` of the logistic regression.

    Returns:
        A dict: `accuracy`, `macro_f1` on `test`, the chosen `C` and its
        validation accuracy (`val_accuracy`, None without `val`).

    Example:

    >>> train = [("good", "pos"), ("great fun", "pos"), ("bad", "neg"), ("awful", "neg")]
    >>> tfidf_baseline(train, [("good fun", "pos"), ("so bad", "neg")])["accuracy"]
    1.0
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics import accuracy_score, f1_score

    x_train, y_train = check_examples(list(train), "train")
    x_test, y_test = check_examples(list(test), "test")
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, lowercase=True)
    features = vectorizer.fit_transform(x_train)
    model, best_c, best_val = fit_logistic(features, y_train, val, vectorizer.transform,
                                           c_grid, seed)
    predicted = model.predict(vectorizer.transform(x_test))
    return {"accuracy": float(accuracy_score(y_test, predicted)),
            "macro_f1": float(f1_score(y_test, predicted, average="macro")),
            "C": best_c, "val_accuracy": best_val}


def fit_logistic(features, labels, val=None, transform=None, c_grid=TFIDF_C_GRID, seed=0):
    """scikit-learn's logistic regression on `features`, one per `C` of
    `c_grid`, keeping the one most accurate on `val` (`(sentence, label)`
    pairs, turned into features by `transform`; the first best wins ties);
    without `val`, C=1.

    Returns:
        `(fitted LogisticRegression, C, its validation accuracy or None)`.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score

    def fit(c):
        return LogisticRegression(C=c, max_iter=5000, random_state=seed).fit(features, labels)

    if not val:
        return fit(1.0), 1.0, None
    sentences, truth = check_examples(list(val), "val")
    val_features = transform(sentences)
    best = None
    for c in c_grid:
        model = fit(c)
        score = float(accuracy_score(truth, model.predict(val_features)))
        if best is None or score > best[2]:
            best = (model, c, score)
    return best
