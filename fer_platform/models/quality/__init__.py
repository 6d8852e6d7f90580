"""The data's own problems: test faces also in train (``overlap``) and train labels that are probably wrong
(``label_issues``)."""
