# pam のメッセージ(ID の接頭辞: pam-)。
