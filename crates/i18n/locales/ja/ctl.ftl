# ctl のメッセージ(ID の接頭辞: ctl-)。
ctl-confirm-proceed = 実行しますか?
ctl-confirm-declined = 何も行いませんでした。
ctl-confirm-no-terminal = この操作は取り消せませんが、確認を求める端末がありません。
ctl-confirm-use-yes = 内容を確認したうえで、--yes を付けて再実行してください。
ctl-error = cardgatectl: エラー: { $message }
ctl-error-hint = 対処: { $hint }
ctl-config-load = 設定ファイル { $path } を読み込めません
