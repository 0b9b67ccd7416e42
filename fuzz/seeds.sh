#!/usr/bin/env bash
# Writes the fuzz campaign's starting inputs into fuzz/seeds/<target>/: one small valid input per
# format and per shape of request, so that the fuzzer starts inside every decoder and parser
# instead of having to find each magic number. ffmpeg makes the audio; the rest is written here.
# Re-run it to regenerate them; `scripts/fuzz` starts from them when a target has no corpus yet.
set -euo pipefail
cd "$(dirname "$0")"
out=seeds
rm -rf "$out"
mkdir -p "$out"/{audio,audio_g729,batch_form,credentials,custom_corpus,custom_words,analytics}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# 0.2 s of a two-tone signal with some noise: short, so each run is fast, but real audio.
src="$tmp/src.wav"
ffmpeg -v error -f lavfi -i "sine=f=220:d=0.2:r=16000" -f lavfi -i "anoisesrc=d=0.2:a=0.05:r=16000" \
  -filter_complex amix=inputs=2 -ac 1 -ar 16000 "$src"
audio() { # name, ffmpeg output options...
  local name=$1
  shift
  ffmpeg -v error -i "$src" "$@" "$tmp/$name"
  # The audio target's first byte picks the name hint and G.729 permission: 0 = content only.
  { printf '\x00'; cat "$tmp/$name"; } > "$out/audio/$name"
}
audio s16_8k.wav -ar 8000 -c:a pcm_s16le
audio u8.wav -ar 8000 -c:a pcm_u8
audio s24_stereo.wav -ar 8000 -ac 2 -c:a pcm_s24le
audio s32.wav -ar 8000 -c:a pcm_s32le
audio f32.wav -ar 8000 -c:a pcm_f32le
audio f64.wav -ar 8000 -c:a pcm_f64le
audio mulaw.wav -ar 8000 -c:a pcm_mulaw
audio alaw.wav -ar 8000 -c:a pcm_alaw
audio three_channels.wav -ar 8000 -ac 3 -c:a pcm_s16le
audio mono.flac -ar 8000 -c:a flac
audio mono.mp3 -ar 8000 -c:a libmp3lame -b:a 8k
audio mono.mp2 -ar 16000 -c:a mp2 -b:a 32k -f mp2
audio vorbis.ogg -ar 8000 -c:a libvorbis
audio opus.ogg -ar 8000 -c:a libopus -b:a 6k
audio opus.webm -ar 8000 -c:a libopus -b:a 6k
audio vorbis.webm -ar 8000 -c:a libvorbis
# Raw G.729 (10-byte frames, no header): 20 frames of the project's own test file.
head -c 200 ../testdata/formats/fmt12.g729 > "$out/audio_g729/frames.g729"
{ printf '\x83'; cat "$out/audio_g729/frames.g729"; } > "$out/audio/frames.g729"

# Credentials files: both formats, and an IBM one with a full CRN.
hmac='{"end_point":"http://127.0.0.1:9000","access_key":"AKIAFUZZ","secret_key":"fuzz-secret-key"}'
iam='{"apikey":"fuzz-api-key","end_point":"https://s3.us-south.cloud-object-storage.appdomain.cloud","resource_instance_id":"crn:v1:bluemix:public:cloud-object-storage:global:a/abc:0123-4567::","region":"us-south"}'
printf '%s' "$hmac" > "$out/credentials/hmac.json"
printf '%s' "$iam" > "$out/credentials/iam.json"

# Batch forms: Content-Type, the query, then the body (see fuzz/src/targets/batch_form.rs).
form() { # name, query, credentials, with output bucket (yes/no)
  local b=fuzzboundary
  {
    printf 'multipart/form-data; boundary=%s\n%s\n' "$b" "$2"
    part() { printf -- '--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' "$b" "$1" "$2"; }
    part input_credentials_file "$3"
    part input_bucket_location us-south
    part input_bucket_name calls
    if [ "$4" = yes ]; then
      part output_credentials_file "$3"
      part output_bucket_location us-south
      part output_bucket_name results
    fi
    printf -- '--%s--\r\n' "$b"
  } > "$out/batch_form/$1"
}
form hmac_input_only 'function=recognize&model=en-US_NarrowbandModel' "$hmac" no
form iam_with_output 'function=recognize&speaker_labels=true&speech_analytics=true&word_confidence=true' "$iam" yes
form options 'function=recognize&smart_formatting=true&redaction=true&profanity_filter=false&split_transcript_at_phrase_end=true&language_customization_id=abc' "$hmac" yes

# Corpora: plain text with unknown words, casings, possessives, a byte order mark.
printf 'The Veltrix router ships with MyVeltrix. Call QUORBIT support about MyVeltrix'"'"'s reset.\nOrder number 12 at 3.5 percent.\n' > "$out/custom_corpus/products.txt"
printf '\xEF\xBB\xBFcafé naïve résumé — Zürich, São Paulo; e-mail re-enter\n' > "$out/custom_corpus/bom_unicode.txt"

# Word lists.
printf '{"words":[{"word":"Veltrix","sounds_like":["vel tricks"],"display_as":"Veltrix"},{"word":"IEEE","sounds_like":["i triple e"]},{"word":"QUORBIT"}]}' > "$out/custom_words/words.json"
printf '{"words":[{"word":"re-enter","display_as":"reenter"},{"word":"St._Louis","sounds_like":["saint louis","st. louis"]}]}' > "$out/custom_words/joined.json"

# Result JSON: two speakers, word timestamps and confidences, speaker labels.
cat > "$out/analytics/two_speakers.json" <<'JSON'
{"results":[{"final":true,"alternatives":[{"transcript":"thank you for calling how can I help ","confidence":0.91,"timestamps":[["thank",0.1,0.3],["you",0.3,0.4],["for",0.4,0.5],["calling",0.5,0.9],["how",1.0,1.1],["can",1.1,1.2],["I",1.2,1.3],["help",1.3,1.6]]}]},{"final":true,"alternatives":[{"transcript":"my order is late and I am really upset ","confidence":0.84,"timestamps":[["my",2.0,2.1],["order",2.1,2.4],["is",2.4,2.5],["late",2.5,2.8],["and",2.9,3.0],["I",3.0,3.1],["am",3.1,3.2],["really",3.2,3.5],["upset",3.5,3.9]]}]}],"speaker_labels":[{"from":0.1,"to":0.3,"speaker":0,"confidence":0.9,"final":false},{"from":0.3,"to":0.4,"speaker":0,"confidence":0.9,"final":false},{"from":0.4,"to":0.5,"speaker":0,"confidence":0.9,"final":false},{"from":0.5,"to":0.9,"speaker":0,"confidence":0.9,"final":false},{"from":1.0,"to":1.1,"speaker":0,"confidence":0.9,"final":false},{"from":1.1,"to":1.2,"speaker":0,"confidence":0.9,"final":false},{"from":1.2,"to":1.3,"speaker":0,"confidence":0.9,"final":false},{"from":1.3,"to":1.6,"speaker":0,"confidence":0.9,"final":false},{"from":2.0,"to":2.1,"speaker":1,"confidence":0.8,"final":false},{"from":2.1,"to":2.4,"speaker":1,"confidence":0.8,"final":false},{"from":2.4,"to":2.5,"speaker":1,"confidence":0.8,"final":false},{"from":2.5,"to":2.8,"speaker":1,"confidence":0.8,"final":false},{"from":2.9,"to":3.0,"speaker":1,"confidence":0.8,"final":false},{"from":3.0,"to":3.1,"speaker":1,"confidence":0.8,"final":false},{"from":3.1,"to":3.2,"speaker":1,"confidence":0.8,"final":false},{"from":3.2,"to":3.5,"speaker":1,"confidence":0.8,"final":false},{"from":3.5,"to":3.9,"speaker":1,"confidence":0.8,"final":true}]}
JSON
printf '{"results":[{"alternatives":[{"timestamps":[["hello",0,0.5,{"speaker":2}],["there",0.5,1e308,{"speaker":-1}]]}]}]}' > "$out/analytics/inline_speakers.json"
ls -la "$out"/* | head -60
