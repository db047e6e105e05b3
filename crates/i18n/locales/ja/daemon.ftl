# daemon のメッセージ(ID の接頭辞: daemon-)。

## cardgated が起動前に確認する事項(cardgated --check-config と毎回の起動)。
daemon-check-error = エラー
daemon-check-warning = 警告
daemon-check-valid = { $path }: 設定は有効です
daemon-check-failed = { $path }: エラーが { $errors } 件あります。cardgated は起動しません
daemon-start-refused = 起動を中止します: 動作に必要なものにエラーが { $errors } 件あります(cardgated --check-config { $path } で一覧を表示できます)
daemon-issuer-key-unreadable = 発行者の公開鍵 { $path } を読めません({ $error })。アクセス管理者の媒体から issuer.pub を複製してください
daemon-issuer-key-invalid = 発行者の公開鍵 { $path } が正しくありません({ $error })
daemon-state-dir-unusable = 状態ディレクトリ { $path } を使用できません({ $error })
daemon-state-file-bad = 状態ファイル { $path } を読めないか、形式が正しくありません({ $error })
daemon-audit-not-initialised = 監査ログ { $path } が初期化されていません。cardgatectl audit init --dir { $path } を実行してください
daemon-audit-unusable = 監査ログ { $path } を開けません({ $error })
daemon-revocation-list-unreadable = 失効リスト { $path } を読めません({ $error })。cardgatectl revocation refresh で発行してください
daemon-revocation-list-refused = 失効リスト { $path } は受け入れられません({ $error })
daemon-revocation-list-stale-refuse = 失効リスト { $path }(版 { $version })は次回更新日時を過ぎています。新しいリストが発行されるまでログインは拒否されます
daemon-revocation-list-stale-warn = 失効リスト { $path }(版 { $version })は次回更新日時を過ぎています。ログインは続行されます(stale = "warn")
daemon-group-missing = { $key } = "{ $group }": このグループはネームサービスに存在しません。この役割は利用できません
daemon-group-lookup-failed = { $key } = "{ $group }": ネームサービスの照会に失敗しました({ $error })。この役割は利用できません
daemon-operator-user-missing = 操作者 { $operator }: ユーザー「{ $user }」はネームサービスに存在しません。この操作者はログインできません
daemon-operator-user-lookup-failed = 操作者 { $operator }: ユーザー「{ $user }」を照会できません({ $error })
daemon-loginctl-unusable = loginctl プログラム { $path } は実行可能なファイルではありません({ $error })。セッションをロック・終了できません
daemon-socket-dir-unusable = ソケット { $path } を作成できません({ $error })
daemon-socket-path-taken = { $path } はソケットではないファイルです。ソケットを作成するとこのファイルが削除されます
daemon-syslog-export-gone = [audit] syslog = true は無視されます(/dev/log への送信は廃止されました)。記録は rsyslog の imfile と RELP で端末から送られます(docs/integration.md を参照)。この設定を削除してください
