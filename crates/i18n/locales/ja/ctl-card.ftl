# ctl-card のメッセージ(ID の接頭辞: ctl-card-)。cardgatectl card …、pin …、readers。

## コマンドラインの入力
ctl-card-bad-serial = { $input } はカードのシリアル番号ではありません。シリアル番号は16桁の16進数です
ctl-card-bad-serial-hint = シリアル番号は `cardgatectl card list` または `cardgatectl card inspect` で確認できます
ctl-card-bad-reader-name = リーダー名は1～{ $max }バイトで指定してください
ctl-card-bad-role = --role { $input }: 役割は operator(操作者)または manager(アクセス管理者)を指定してください
ctl-card-bad-date = --valid-until { $input }: 日付は YYYY-MM-DD の形式で指定してください
ctl-card-date-past = --valid-until { $input } は過去の日付です(本日は { $today })
ctl-card-date-far = --valid-until { $input } は{ $years }年より先の日付です(指定できるのは { $latest } まで)
ctl-card-bad-operator = --operator { $input }: 操作者IDは1～{ $max }バイトで、制御文字を含まないものを指定してください
ctl-card-bad-puk = PUK(ロック解除コード)の形式が正しくありません: { $error }
ctl-card-bad-admin-pin = 管理者 PIN(PW3)の形式が正しくありません: { $error }
ctl-card-admin-pin-unchanged = 新しい管理者 PIN を工場出荷時の 12345678 にすることはできません。管理者 PIN を知る者は、古い PIN なしにカードへ新しい PIN を設定できます
ctl-card-config-fix = 設定ファイル { $path } を修正してください(docs/configuration.md を参照)
ctl-card-config-hint = 設定ファイルを --config で指定してください(現在の指定: { $path })

## 発行者の媒体
ctl-card-issuer-dir-missing = 発行者ディレクトリ { $dir } がありません
ctl-card-issuer-key-missing = 発行者鍵 { $path } がありません
ctl-card-issuer-key-bad = { $path } は発行者鍵ではありません: { $error }
ctl-card-issuer-mount = 発行者の媒体(issuer.key を保管した外部記録媒体)を接続してマウントし、そのディレクトリを --issuer-dir で指定してください(現在の指定: { $dir })

## card return / card revoke
ctl-card-not-in-register = カード { $serial } はカード管理台帳 { $path } に登録されていません。何も変更していません
ctl-card-not-in-register-hint = `cardgatectl card list` でシリアル番号を確認してください。他所で発行されたカードの場合は --not-in-register を付けてください(この指定は監査ログに記録されます)
ctl-card-already-returned = カード { $serial } は { $at } に返却済みです。何も変更していません
ctl-card-already-revoked = カード { $serial } は { $at } に失効済みです(理由: { $reason })。何も変更していません
ctl-card-already-listed = カード { $serial } は失効リスト { $path } に既に載っています({ $at }、理由: { $reason })。何も変更していません
ctl-card-list-unreadable = 失効リスト { $path } を読み込めません: { $error }
ctl-card-plan-card = カード { $serial }: { $operator }({ $role })、{ $lent } に貸与。
ctl-card-plan-unknown-card = カード { $serial }: このカード管理台帳には登録されていません(他所で発行されたカード)。
ctl-card-plan-list-only = 新しく署名した失効リストに載せます(理由: { $reason })。台帳にはないカードのため、台帳は変更しません。
ctl-card-plan-return = このカードを返却として処理します。新しく署名した失効リストに理由「返却」で載せ、台帳では返却済みとします。
ctl-card-plan-revoke = このカードを失効させます(理由: { $reason })。新しく署名した失効リストに載せ、台帳では失効済みとします。
ctl-card-plan-meaning = 以後、このカードではどの端末にもログインできず、使用中のセッションは終了します。この操作は取り消せません。操作者には新しいカードの発行が必要です。
ctl-card-plan-by = 監査ログには { $by } による操作として記録されます。
ctl-card-plan-override = --not-in-register: この指定は先に監査ログへ記録されます。
ctl-card-override-unrecorded = カード { $serial } の --not-in-register の指定を監査ログに記録できなかったため、何も変更していません: { $error }
ctl-card-withdrawn-unrecorded = カード { $serial } は失効リスト(版 { $version })に載りましたが、監査ログに記録できませんでした: { $error }
ctl-card-returned = カード { $serial } を返却として処理しました。失効リストの版は { $version } です
ctl-card-revoked = カード { $serial } を失効させました(理由: { $reason })。失効リストの版は { $version } です
ctl-card-tell-administrator = カードを保管し、システム管理者に連絡してください

## card issue / card unblock
ctl-card-issued = カード { $serial } を { $operator }({ $role })に発行しました。有効期限は { $until } です。初回使用時に暗証番号の変更が必要です
ctl-card-issued-unrecorded = カード { $serial } は { $operator } に発行され、台帳にも貸与として登録されましたが、発行を監査ログに記録できませんでした: { $error }
ctl-card-plan-unblock = { $reader } のカード { $serial }({ $operator })の暗証番号のロックを PUK で解除し、標準入力から読む新しい暗証番号を設定します。操作者は次回ログイン時に暗証番号を変更する必要があります。
ctl-card-unblocked = カード { $serial } のロックを解除しました。初回使用時に新しい暗証番号の変更が必要です
ctl-card-unblocked-unrecorded = カード { $serial } のロックは解除されましたが、監査ログに記録できませんでした: { $error }
ctl-card-blank = リーダー「{ $reader }」のカードは未発行(個人化されていない)カードです
ctl-card-not-operator-card = リーダー「{ $reader }」のカードは cardgate の操作者カードではありません
ctl-card-card-changed = リーダー「{ $reader }」のカードがカード { $serial } ではなくなりました。何も変更していません
ctl-card-card-failed = リーダー「{ $reader }」のカード: { $error }
ctl-card-manager-same-reader = アクセス管理者のカードには専用のリーダーが必要です。--manager-reader「{ $reader }」は対象カードのリーダーと同じです
ctl-card-manager-authenticated = アクセス管理者 { $manager } を認証しました({ $reader } のカード { $serial })
ctl-card-manager-needed = カードの発行にはアクセス管理者のカードが必要です。--manager-reader READER を指定し、その暗証番号を標準入力の1行目に入力してください
ctl-card-manager-bootstrap-taken = 台帳ではアクセス管理者カード { $serial } が { $manager } に貸与されています({ $since } から)。以後のカードはそのカードで発行してください(--manager-reader READER)
ctl-card-manager-refused = 拒否しました: { $reason }
ctl-card-manager-refused-hint = 対象のカードには何もしていません。拒否は監査ログに記録されています
ctl-card-manager-refused-unrecorded = 拒否しました: { $reason }。また、拒否を監査ログに記録できませんでした: { $error }

## リーダーと pcscd
ctl-card-pcscd-down = スマートカードサービス pcscd が動作していません(またはこの利用者には使用が許可されていません)
ctl-card-pcscd-down-hint = 起動してください: systemctl start pcscd.socket
ctl-card-reader-missing = リーダー「{ $reader }」はありません
ctl-card-reader-missing-hint = `cardgatectl readers` でリーダーの一覧を確認してください
ctl-card-readers-known = 接続されているリーダー: { $readers }
ctl-card-no-readers = pcscd が認識しているリーダーはありません。
ctl-card-no-readers-hint = リーダーを接続し、ドライバーがインストールされているか確認してください(pcscd のログ: journalctl -u pcscd)
ctl-card-no-card = リーダー「{ $reader }」にカードが入っていません
ctl-card-no-card-hint = カードを挿入して、もう一度実行してください
ctl-card-card-removed = 処理中にカードがリーダー「{ $reader }」から抜かれました
ctl-card-card-removed-hint = 処理が終わるまでカードを抜かずに、もう一度実行してください
ctl-card-reader-failed = リーダー「{ $reader }」: { $error }
ctl-card-reader-empty = カードなし
ctl-card-reader-operator-card = 操作者カード
ctl-card-reader-other-card = その他のカード

## 表
ctl-card-col-serial = シリアル番号
ctl-card-col-operator = 操作者
ctl-card-col-role = 役割
ctl-card-col-lent = 貸与日時
ctl-card-col-valid-until = 有効期限
ctl-card-col-ended = 終了日時
ctl-card-col-state = 状態
ctl-card-col-reader = リーダー
ctl-card-col-card = カード
ctl-card-col-atr = ATR(リセット応答)
ctl-card-col-item = 項目
ctl-card-col-value = 内容
ctl-card-list-empty = カード管理台帳 { $path } には、まだ貸与中のカードがありません。
ctl-card-state-lent = 貸与中
ctl-card-state-lent-initial = 貸与中(初期暗証番号)
ctl-card-state-returned = 返却済み
ctl-card-state-revoked = 失効({ $reason })
ctl-card-role-operator = 操作者
ctl-card-role-manager = アクセス管理者
ctl-card-reason-lost = 紛失
ctl-card-reason-stolen = 盗難
ctl-card-reason-returned = 返却
ctl-card-reason-transferred = 異動
ctl-card-reason-damaged = 破損
ctl-card-reason-other = その他

## card inspect
ctl-card-inspect-profile = 種類
ctl-card-profile-v1 = 操作者カード v1
ctl-card-profile-v1-blank = 操作者カード v1(未発行)
ctl-card-profile-openpgp = OpenPGP カード(cardgate で発行済み)
ctl-card-profile-openpgp-blank = OpenPGP カード(cardgate の証明書なし。cardgate で発行されていません)
ctl-card-inspect-openpgp-card = OpenPGP カード
ctl-card-inspect-openpgp-card-value = バージョン { $version }、製造者 { $manufacturer }、カード固有の製造番号 { $serial }
ctl-card-inspect-kdf = 暗証番号をハッシュで送る(KDF-DO)
ctl-card-inspect-admin-tries = 残り回数: 管理者 PIN / PUK(リセットコード)
ctl-card-profile-unknown = 不明なカード
ctl-card-profile-unknown-marked = 不明なカード(ATR に cardgate の印がありますが、操作者用アプリケーションがありません)
ctl-card-inspect-validity = 有効期間
ctl-card-validity-valid = 本日有効
ctl-card-validity-expired = 期限切れ
ctl-card-validity-not-yet = 有効期間前
ctl-card-inspect-signature = 発行者の署名
ctl-card-signature-valid = 設定された issuer.pub で検証できました
ctl-card-signature-invalid = 設定された issuer.pub では検証できません
ctl-card-unchecked = 確認できません: { $error }
ctl-card-inspect-revoked = 失効
ctl-card-inspect-revoked-yes = 失効しています({ $reason }、失効リストの版 { $version })
ctl-card-inspect-revoked-no = 失効していません(失効リストの版 { $version })
ctl-card-inspect-revoked-at = 失効日時
ctl-card-inspect-register = 台帳
ctl-card-inspect-register-revoked = 失効済み
ctl-card-inspect-not-in-register = この台帳には登録なし
ctl-card-inspect-returned = 返却
ctl-card-inspect-pin = 暗証番号
ctl-card-pin-tries = 残り{ $tries }回
ctl-card-pin-not-set = 未設定(未発行カード)
ctl-card-pin-tries-unknown = カードから回答がありません
ctl-card-pin-blocked = ロック中(`cardgatectl card unblock` で解除してください)

## 暗証番号の基準(第5条第5項)
ctl-card-pin-acceptable = この暗証番号は使用できます
ctl-card-pin-too-short = 暗証番号は{ $min }文字以上にしてください({ $len }文字です)
ctl-card-pin-too-long = 暗証番号は{ $max }文字以下にしてください({ $len }文字です)
ctl-card-pin-bad-character = 暗証番号に使えるのは英字 A～Z、a～z と数字 0～9 だけです
ctl-card-pin-no-letter = 暗証番号には英字を1文字以上含めてください
ctl-card-pin-no-digit = 暗証番号には数字を1文字以上含めてください
ctl-card-pin-operator-id = 暗証番号に操作者IDを含めることはできません
ctl-card-pin-run = 同じ文字の繰り返しや、キーボード・アルファベット・数字の並び(またはその2つの組み合わせ)は暗証番号にできません
ctl-card-pin-blocklisted = この暗証番号はよく使われるパスワードの一覧に含まれています
ctl-card-pin-same = 新しい暗証番号は現在の暗証番号と異なるものにしてください
ctl-card-bootstrap-needs-root = root 以外の利用者は、アクセス管理者カード(--manager-reader)の承認があるときだけカードを貸与できます。最初のアクセス管理者カードは root が発行します。
ctl-card-bootstrap-needs-root-hint = 最初のアクセス管理者カードを root(sudo)で発行し、その後のカードは --manager-reader を付けて発行してください。
