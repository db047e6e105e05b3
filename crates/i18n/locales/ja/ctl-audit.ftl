# ctl-audit のメッセージ(ID の接頭辞: ctl-audit-)。

## audit init
ctl-audit-init-created = { $dir } に監査ログを作成しました。
ctl-audit-init-key-follows = 次の行が検証鍵 k(0) です。この端末の外で保管してください。表示はこの一度だけです。

## audit verify
ctl-audit-verify-tail-unsealed = 不合格: --require-sealed が指定されていますが、末尾がまだ封印されていません
ctl-audit-verify-failed = { $dir } の監査ログは検証に合格しませんでした
ctl-audit-verify-failed-hint = 最初の不正な記録以降は信用しないでください。ディレクトリをそのまま複製して保全し、アクセス管理者に報告してください。
ctl-audit-verify-progress = 検証中
ctl-audit-key-maybe-wrong = 最初の封印が一致しません。指定した k(0) が誤っている(別のログの鍵、または入力誤り)可能性があります。

## audit report
ctl-audit-report-progress = 点検中
ctl-audit-report-csv-needs-out = --format csv は表ごとに別のファイルに書き出すため、--out でディレクトリを指定してください
ctl-audit-report-csv-needs-out-hint = 例: --format csv --out /media/manager/review-2026-11
ctl-audit-report-written = { $path } に書き出しました。
ctl-audit-report-not-verified = 点検結果は作成しましたが、ログが検証に合格しなかったか、前回のチェックポイントに続いていません。報告書の冒頭を確認してください。
ctl-audit-report-checkpoint-written = チェックポイントを { $path } に書き出しました。この端末の外で保管し、次回の点検で指定してください(--checkpoint { $path })。
ctl-audit-report-period-order = --from { $from } が --to { $to } より後になっています
ctl-audit-report-period-order-hint = --from に早い日付、--to に遅い日付を指定してください。

## audit note
ctl-audit-note-recorded = 記録番号 { $seq } として記録しました。
ctl-audit-note-recorded-by-daemon = cardgated が記録番号 { $seq } として記録しました。
ctl-audit-note-daemon-unreachable = 監査ログは cardgated が使用中ですが、{ $socket } で cardgated に接続できません: { $error }
ctl-audit-note-daemon-refused = cardgated が記録を拒否しました: { $message }
ctl-audit-note-daemon-answer = cardgated から想定外の応答がありました: { $answer }

## errors
ctl-audit-already = { $dir } にはすでに監査ログがあります。既存のログは上書きしません。
ctl-audit-already-hint = 新しいログを作成する場合は、--dir で空のディレクトリを指定してください(既存のログと k(0) は保管してください)。
ctl-audit-config = 設定ファイル { $path } を使用できません: { $error }
ctl-audit-config-hint = ファイルを修正するか(cardgated も起動を拒否します)、--config で別のファイルを指定してください。
ctl-audit-no-log = { $dir } に監査ログがありません。
ctl-audit-no-log-hint = --dir または設定ファイルの [audit] dir を確認してください。新しく作成する場合は `cardgatectl audit init` を実行してください。
ctl-audit-locked = { $dir } の監査ログは別のプロセスが書き込み中です(cardgated が動作していませんか)。
ctl-audit-read = { $dir } の監査ログを読み込めません: { $error }
ctl-audit-read-hint = `cardgatectl audit verify` を実行すると、最初の不正な記録が示されます。
ctl-audit-option = { $option } の指定が正しくありません: { $error }
ctl-audit-key-on-command-line = --key には `-`(標準入力から k(0) を読む)だけを指定できます。鍵をコマンド行に書くと、プロセス一覧とシェルの履歴に残ります。
ctl-audit-key-on-command-line-hint = --key - < ファイル、または --key-file ファイル を使ってください。
ctl-audit-key-unsafe-kind = { $path } は通常のファイルではありません。k(0) はファイルから読み込んでください。
ctl-audit-key-unsafe-mode = { $path } は全ユーザーが読み書きできるため、k(0) として使用できません。
ctl-audit-key-unsafe-mode-hint = chmod 600 { $path } で所有者だけが読めるようにしてください。
ctl-audit-key-group-readable = 警告: { $path } はグループのユーザーも読めます。k(0) は所有者だけが読めるようにしてください。
ctl-audit-key-read = { $source } から k(0) を読み込めません: { $error }
ctl-audit-key-bad = k(0) は 16 進数 64 桁です(`cardgatectl audit init` が最後の行に表示したもの)。
ctl-audit-checkpoint-read = チェックポイント { $path } を読み込めません: { $error }
ctl-audit-checkpoint-write = チェックポイント { $path } を書き出せません: { $error }
ctl-audit-write = { $path } に書き出せません: { $error }
ctl-audit-json-failed = 報告を JSON として出力できませんでした: { $error }
