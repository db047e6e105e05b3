# ctl-state のメッセージ(ID の接頭辞: ctl-state-)。
