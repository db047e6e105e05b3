# ctl のメッセージ(ID の接頭辞: ctl-)。
