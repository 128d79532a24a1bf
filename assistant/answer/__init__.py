"""The offline answerer: passages -> chosen sentences -> a cited answer, or the abstention.

    extractive.py  candidate sentences and their features, the first stage, the decision
    reader.py      the cross-encoder that reads question and sentence together
    citations.py   `[n]` markers, numbering quotes, the fixed "not found" answer
    chat.py        follow-up questions made to stand alone
    evaluation.py  `assistant eval`: answers against gold, beside two baselines
"""
