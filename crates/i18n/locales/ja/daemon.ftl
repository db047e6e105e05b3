# daemon のメッセージ(ID の接頭辞: daemon-)。
