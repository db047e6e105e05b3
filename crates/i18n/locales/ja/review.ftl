# review のメッセージ(ID の接頭辞: review-)。
