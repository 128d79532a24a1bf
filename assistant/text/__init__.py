"""Text analysis that the write path and the read path share.

    sentences.py  sentences as character spans (chunks align to them, answers quote them)
    opposites.py  whether two texts say opposite things (answerer's contradiction check, LLM grounding)
    terms.py      content terms as the keyword index counts them (stems, stopwords)
"""
