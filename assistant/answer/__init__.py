"""The offline answerer: passages -> chosen sentences -> a cited answer, or the abstention.

    candidates.py  every sentence of the passages with its features; the fitted first stage
    reader.py      the cross-encoder that reads question and sentence together
    decision.py    the abstention decision, which both answerers use, and the fixed "not found" answer
    definition.py  who/what-is questions answered as a definition from the sentence's words
    extractive.py  the offline answerer: candidates -> first stage -> reader -> decision -> draft
    citations.py   `[n]` markers and numbering quotes, for both answerers
    chat.py        follow-up questions made to stand alone
    evaluation.py  `assistant eval`: answers against gold, beside two baselines
"""
