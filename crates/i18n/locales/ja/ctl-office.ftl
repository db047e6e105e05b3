# ctl-office のメッセージ(接頭辞: ctl-office-): 事務所の状態を各端末へ。

## office publish.
ctl-office-published = 事務所の状態の版 { $version } を { $dir } に公開しました: 失効リストの版 { $list }、台帳のカード { $cards } 枚
ctl-office-publish-due-soon = 警告: 失効リストの次回更新まで2日以内です。次の版に署名して(cardgatectl revocation refresh)もう一度公開してください
ctl-office-publish-stale = 警告: 失効リストは次回更新日を過ぎています。各端末は [revocation] stale の設定に従い拒否または警告します。次の版に署名して(cardgatectl revocation refresh)もう一度公開してください

## office pull.
ctl-office-applied = 事務所の状態の版 { $version } を適用しました(適用前: { $previous }): { $list }。台帳: 追加 { $added }、更新 { $updated }(うち返却・失効 { $withdrawn })、この端末の情報が新しく保持したもの { $kept }
ctl-office-unchanged = 事務所の状態の版 { $version } はこの端末に適用済みです。変更はありません
ctl-office-list-installed = 失効リストの版 { $version } を設置しました
ctl-office-list-same = 失効リストの版 { $version } は適用中です
ctl-office-list-kept = この端末の失効リストの版 { $local } は事務所の版 { $offered } より新しいため、そのままにしました
ctl-office-refused = 事務所の状態を拒否しました: { $error }
ctl-office-refused-hint = この端末では何も変更していません。事務所がこの端末の発行者鍵(cardgated.toml の issuer.public_key)で署名したか確認し、もう一度公開してください(cardgatectl office publish)
ctl-office-rollback-hint = この端末では何も変更していません: 事務所の写しは、この端末が適用した版より古いものです(古い写しが事務所に戻された可能性があります)。事務所で新しい版を公開してください(cardgatectl office publish)
ctl-office-failed = 事務所の状態を適用できません: { $error }
ctl-office-bad-source = --from { $source } は絶対パスでも HOST:PATH でもありません(空白や - で始まるものは使えません)
ctl-office-bad-path = { $path } は ssh に渡せません(空、または空白・制御文字を含みます)
ctl-office-fetch-spawn = { $program } を実行できません: { $error }
ctl-office-fetch-failed = { $source } からの事務所の状態の取得に失敗しました({ $status }): { $detail }
ctl-office-status-write-failed = 警告: 結果を { $path } に記録できません: { $error }

## office status.
ctl-office-status-none = この端末ではまだ事務所の状態を取得していません({ $path } がありません)
ctl-office-status = 最後の取得 { $time }、取得元 { $source }: { $result }
ctl-office-result-applied = 版 { $version } を適用
ctl-office-result-unchanged = 版 { $version } は適用済み
ctl-office-result-refused = 拒否: { $error }
ctl-office-result-refused_rollback = 巻き戻しを拒否: { $error }
ctl-office-result-failed = 失敗: { $error }
