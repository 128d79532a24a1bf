"""Text analysis that both the write and the read path share.

    terms.py  content terms as the keyword index counts them (stems, stopwords)
"""
