# ctl-audit のメッセージ(ID の接頭辞: ctl-audit-)。
