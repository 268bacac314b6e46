"""Law versions: which text was in force when.

``dates`` parses the dates a user or a front matter gives; ``chains`` links the
versions of one law into a chain ordered by 시행일자 and tells a chunk's status on a
date; ``articles`` cuts an article into its 항/호/목 units; ``diff`` aligns an article
as in force on two dates; ``notices`` says what an answer's reader must know about the
versions it quotes; ``addenda`` reads 부칙 as amendment records.
"""
