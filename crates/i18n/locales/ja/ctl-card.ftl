# ctl-card のメッセージ(ID の接頭辞: ctl-card-)。
