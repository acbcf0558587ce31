#!/bin/sh
# Regenerate the TEST-ONLY certificates in this folder (see README.md).
# Needs only the openssl command line tool; run from anywhere:
#     sh tests/certs/make_certs.sh
set -eu
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
san="subjectAltName=IP:127.0.0.1,DNS:localhost"

# 1. A test CA, valid for 100 years; the tests tell the client to trust it.
#    Its private key is thrown away, so nothing else can ever be signed by it.
openssl req -x509 $ec -keyout "$work/ca.key" -out ca.pem -days 36500 \
    -subj "/CN=course_lib TEST-ONLY CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"

# 2. Server certificates for 127.0.0.1 signed by that CA: one that expired in
#    2020 (openssl 3.0's x509 cannot back-date, `openssl ca` can) and one valid
#    for 100 years.
cat > "$work/ca.cnf" <<CNF
[ca]
default_ca = test
[test]
dir = $work
database = $work/index.txt
new_certs_dir = $work
serial = $work/serial
default_md = sha256
policy = any
copy_extensions = copy
unique_subject = no
[any]
commonName = supplied
[leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
$san
CNF
: > "$work/index.txt"
echo 1000 > "$work/serial"
for name in expired valid; do
    openssl req $ec -keyout "$work/$name.key" -out "$work/$name.csr" -subj "/CN=127.0.0.1"
    if [ "$name" = expired ]; then dates="-startdate 20200101000000Z -enddate 20200102000000Z"
    else dates="-days 36500"; fi
    openssl ca -batch -config "$work/ca.cnf" -extensions leaf -cert ca.pem -keyfile "$work/ca.key" \
        $dates -notext -in "$work/$name.csr" -out "$work/$name.crt"
    cat "$work/$name.key" "$work/$name.crt" > "$name.pem"
done

# 3. A self-signed server certificate that no client trusts.
openssl req -x509 $ec -keyout "$work/self.key" -out "$work/self.crt" -days 36500 \
    -subj "/CN=127.0.0.1 TEST-ONLY self-signed" -addext "$san"
cat "$work/self.key" "$work/self.crt" > selfsigned.pem

chmod 644 ./*.pem
