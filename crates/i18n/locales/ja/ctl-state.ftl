# ctl-state のメッセージ(ID の接頭辞: ctl-state-)。

## 状態管理コマンドに共通のファイルとエラー。
ctl-state-not-found = { $path } がありません
ctl-state-not-found-hint = パスを確認してください(それを収めた媒体が接続されているかも確認してください)
ctl-state-forbidden = このユーザーでは { $path } を読み書きできません
ctl-state-forbidden-hint = 所有するユーザーで実行してください(監査ログと状態ディレクトリは root です)
ctl-state-io = { $path } の読み書きに失敗しました: { $error }
ctl-state-bad-file = { $path } を使用できません: { $error }
ctl-state-bad-serial = { $serial } はカードのシリアル番号ではありません(カード一覧に表示される 16 桁の 16 進数です)
ctl-state-unknown = 不明

## デーモンのソケット。
ctl-state-daemon-down = { $socket } の cardgated に接続できません({ $error })
ctl-state-daemon-down-hint = 次のコマンドでデーモンの状態を確認してください: systemctl status cardgated
ctl-state-daemon-forbidden = cardgated のソケット { $socket } はこのユーザーには開かれていません
ctl-state-daemon-forbidden-hint = root または管理グループ(cardgated.toml の daemon.admin_group)の一員として実行してください
ctl-state-daemon-talk = { $socket } の cardgated との通信に失敗しました: { $error }

## issuer init。
ctl-state-issuer-exists = { $path } には既に発行者鍵があります。置き換えていません(置き換えると、その鍵で署名したすべてのカードと失効リストが検証できなくなります)
ctl-state-issuer-exists-hint = 新しい鍵を作るには別のディレクトリを指定してください。すべてのカードを再発行するまで古い鍵は保管してください
ctl-state-issuer-no-parent = { $parent } がないため、{ $path } を作成しませんでした
ctl-state-issuer-no-parent-hint = 発行者鍵の媒体(アクセス管理者が保管する USB メモリ)を接続してから再実行してください。cardgatectl がこのディレクトリを作ることはありません
ctl-state-issuer-not-dir = { $path } は存在しますが、ディレクトリではありません
ctl-state-issuer-dir-hint = --dir には発行者鍵の媒体上のディレクトリを指定してください
ctl-state-issuer-made =
    発行者鍵:  { $key }
    公開鍵:    { $public }({ $hex })
    鍵 ID:     { $id }

## 失効リスト。
ctl-state-next-update-bounds = --next-update-days には 1 から { $max } までの日数(整数)を指定してください({ $value } は指定できません)
ctl-state-list-bad = 失効リスト { $path } を検証できません: { $error }
ctl-state-list-bad-hint = この発行者鍵(--issuer-pub、または cardgated.toml の issuer.public_key)で署名されたものか確認してください
ctl-state-list-summary = { $path }: 版 { $version }、発行 { $issued }、次回更新 { $next }、カード { $count } 枚
ctl-state-list-stale = 警告: 失効リストが次回更新日時を過ぎています。直ちに新しい版に署名してください(cardgatectl revocation refresh)
ctl-state-list-due-soon = 警告: 失効リストの次回更新まで 2 日を切っています。早めに新しい版に署名してください(cardgatectl revocation refresh)
ctl-state-list-revoked = { $serial } を失効させました({ $reason })。失効リスト 版 { $version }、{ $count } 件
ctl-state-list-refreshed = 失効リスト 版 { $version }、{ $count } 件
ctl-state-reason-lost = 紛失
ctl-state-reason-stolen = 盗難
ctl-state-reason-returned = 返却
ctl-state-reason-transferred = 異動
ctl-state-reason-damaged = 破損
ctl-state-reason-other = その他

## 表の見出し。
ctl-state-col-card = カード
ctl-state-col-reason = 理由
ctl-state-col-revoked-at = 失効日時
ctl-state-col-session = セッション
ctl-state-col-terminal = 端末
ctl-state-col-user = ユーザー
ctl-state-col-operator = 操作者
ctl-state-col-opened = 開始日時
ctl-state-col-state = 状態
ctl-state-col-reader = カードリーダー
ctl-state-col-reader-state = リーダーの状態

## sessions と status。
ctl-state-no-sessions = 開いているセッションはありません
ctl-state-session-active = 使用中
ctl-state-session-locked = ロック中
ctl-state-session-ending = 終了処理中
ctl-state-reader-present = 接続済み
ctl-state-reader-missing = pcscd に見つかりません
ctl-state-reader-unconfigured = どの端末にも設定されていません
ctl-state-status-daemon-up = cardgated: 動作中({ $socket })
ctl-state-status-daemon-down = cardgated: 接続できません({ $socket })
ctl-state-status-pcscd-up = pcscd: 接続可、カードリーダー { $count } 台
ctl-state-status-pcscd-down = pcscd: 接続できません({ $error })
ctl-state-status-sessions = 開いているセッション: { $count } 件
ctl-state-status-sessions-unknown = 開いているセッション: 不明(cardgated に接続できません)
ctl-state-status-list = 失効リスト: { $path }、版 { $version }、次回更新 { $next }
ctl-state-status-list-in-force = 警告: cardgated が使用中の版は { $version } で、ファイルの版と異なります
ctl-state-status-list-error = 失効リスト: { $error }
ctl-state-status-audit-last = 監査ログ: { $path }、最後の記録 #{ $seq }({ $time })
ctl-state-status-audit-empty = 監査ログ: { $path } には記録がありません
ctl-state-status-audit-seal = 最後の封印: エポック { $epoch }、記録 #{ $seq } まで({ $time })
ctl-state-status-audit-no-seal = 最後の封印: ログの最新部分に封印がありません
ctl-state-status-audit-unreadable = 監査ログ: ここからは読めません({ $error })。最後の記録と封印を見るには root で status を実行してください

## login。
ctl-state-login-bad-pin = PIN が正しくありません({ $error })。何も送信していません
ctl-state-login-granted = 認証しました: 操作者 { $operator }(カード { $serial })
ctl-state-login-change-pin = セッションを開く前に初期 PIN を変更する必要があります
ctl-state-login-refused = 端末 { $terminal } での { $user } のログインは拒否されました: { $reason }

## backup。
ctl-state-backup-no-target = バックアップ先 { $path } がありません。何も書き込んでいません
ctl-state-backup-no-target-hint = バックアップ用の媒体を接続する(またはディレクトリを作成する)と再実行できます。cardgatectl がこのディレクトリを作ることはありません
ctl-state-backup-too-many = この 1 分間のバックアップが多すぎます({ $path } と番号付きの複製が既にあります)
ctl-state-backup-wrong-key = { $dir } の発行者鍵は { $public } が示す鍵ではありません。この端末ではバックアップを検証も復元もできません
ctl-state-backup-made = { $count } 個のファイル({ $bytes } バイト)を { $path } にバックアップしました
ctl-state-backup-entry-unreadable = バックアップの項目 { $name }: { $path }: { $error }
ctl-state-backup-entry-symlink = バックアップの項目 { $name }: { $path } はシンボリックリンクです{ $error }
ctl-state-backup-entry-not-file = バックアップの項目 { $name }: { $path } は通常のファイルではありません{ $error }
ctl-state-backup-unsigned = { $path }: マニフェストに { $public } の発行者鍵による署名がありません(署名がない、改変された、または別の鍵の署名です)
ctl-state-backup-unsigned-hint = 作成後にバックアップが変更されたか、別の発行者鍵で作成されています。別のバックアップを使ってください
ctl-state-backup-manifest-line = { $path } の { $line } 行目の形式が正しくありません
ctl-state-backup-bad-name = { $name } はバックアップに含められるファイルではありません
ctl-state-backup-changed = { $path } がマニフェストのチェックサムと一致しません
ctl-state-backup-verified = { $path }: 署名は正しく({ $public })、{ $count } 個のファイルがマニフェストと一致しました
ctl-state-backup-verify-failed = バックアップ { $path } の検証に失敗しました: { $count } 個のファイルが不一致(最初は { $first })
ctl-state-backup-verify-failed-hint = このバックアップからは復元せず、別のバックアップを使ってください

## restore。
ctl-state-restore-nothing = { $message }。何も復元していません
ctl-state-restore-daemon-running = cardgated が動作中です(ソケット { $socket } が応答します)。復元するには停止が必要です
ctl-state-restore-daemon-running-hint = 次のコマンドで停止してください: systemctl stop cardgated
ctl-state-restore-bad-name = MANIFEST.sha256 の { $line } 行目: { $name } はバックアップに含められるファイルではありません({ $allowed } と audit/ のセグメントのみ)
ctl-state-restore-twice = MANIFEST.sha256 に { $name } が 2 回あります
ctl-state-restore-target-symlink = { $path }({ $name } の復元先)はシンボリックリンクです
ctl-state-restore-accepted-bad = バックアップ中の { $name } の形式が正しくありません
ctl-state-restore-rollback = 復元すると { $path } が版 { $current } から版 { $version } に戻り、その後に失効させたカードで再びログインできるようになります
ctl-state-restore-rollback-hint = それでも行う場合は --allow-revocation-rollback を付けてください(監査ログに記録されます)。その後、最新の失効リストを戻してください
ctl-state-restore-audit-needs-key = --audit には k(0) が必要です: --key -(標準入力から)または --key-file PATH
ctl-state-restore-key-without-audit = --key と --key-file は --audit と一緒にのみ使えます
ctl-state-restore-audit-exists = { $path } には既に監査ログがあります。復元で置き換えることはありません(記録が失われるため)
ctl-state-restore-audit-exists-hint = 先にそのディレクトリを別の場所へ移してから、--audit を付けて復元してください
ctl-state-restore-audit-bad = バックアップの監査ログはこの k(0) で検証できません: { $error }
ctl-state-restore-plan = { $path } からの復元で、次の { $count } 個のファイルを書き込みます:
ctl-state-restore-plan-audit = また、監査ログを { $path } に戻します({ $count } 個のファイル、{ $records } 件の記録。封印はエポック { $epoch } から続けます)
ctl-state-restore-plan-audit-left = バックアップ中の監査ファイル { $count } 個は復元しません(--audit なし)。
ctl-state-restore-plan-rollback = revocation.accepted を古い失効リストに戻します(--allow-revocation-rollback)。最新のリストを戻すまで、その後に失効させたカードでログインできます。
ctl-state-restore-no-log = 復元は監査ログに記録しますが、{ $path } を開けません: { $error }。他には何も復元していません
ctl-state-restore-no-log-hint = 監査ログも復元する(k(0) と --audit)か、新しく作成してください(cardgatectl audit init)
ctl-state-restore-record = 復元を監査ログに記録できませんでした: { $error }
ctl-state-restore-seal = 復元後の監査ログの封印に失敗しました: { $error }
ctl-state-restore-partial = { $count } 個中 { $written } 個のファイルを書いたところで復元が止まりました: { $path } の書き込み: { $error }(監査ログに記録済み)
ctl-state-restore-done = { $path } から { $count } 個のファイルを復元しました
ctl-state-restore-done-audit = バックアップから監査ログを復元しました({ $records } 件の記録)。封印はエポック { $epoch } から続けます
ctl-state-restore-done-audit-left = 監査ログはそのままにしました(バックアップ中の写しは点検用です。--audit を付けると空のディレクトリに戻します)
ctl-state-restore-done-rollback = revocation.accepted を古い失効リストに戻しました。監査ログに記録済みです
ctl-state-status-ship = 集約サーバへの送信: rsyslog が未読の記録 { $waiting } 件(状態は { $dir })
ctl-state-status-ship-segment = { "  " }セグメント { $segment }: 記録 #{ $last } のうち #{ $read } まで読込済み(残り { $waiting } 件)
ctl-state-status-ship-segment-unread = { "  " }セグメント { $segment }: 未読(記録 #{ $first } から #{ $last } まで待機中)
ctl-state-status-ship-none = 集約サーバへの送信: 設定されていません(rsyslog は { $dir } に { $path } のセグメントの読込位置を持っていません。docs/integration.md を参照)
ctl-state-status-ship-error = 集約サーバへの送信: 不明({ $error })
