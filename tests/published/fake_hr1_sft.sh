# Verbatim from the Fake-HR1 README (seed 001, ICASSP 2026), the SFT command.
CUDA_VISIBLE_DEVICES=0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15 \
NNODES=$WORLD_SIZE \
NODE_RANK=$RANK \
MASTER_ADDR=${MASTER_ADDR} \
SIZE_FACTOR=8 \
NPROC_PER_NODE=16 \
swift sft \
--model "./Qwen2.5-VL-7B-Instruct" \
--model_type "qwen2_5_vl" \
--train_type full \
--dataset "./GenImage/train_cleaned_0915.json" \
"./FakeClue/data_json/train_clean_0916.json" \
--split_dataset_ratio 0.001 \
--max_length 8192 \
--torch_dtype bfloat16 \
--num_train_epochs 1 \
--per_device_train_batch_size 1 \
--per_device_eval_batch_size 4 \
--learning_rate 1e-6 \
--gradient_accumulation_steps 2 \
--freeze_vit false \
--freeze_llm false \
--freeze_aligner false \
--save_steps 1000 \
--save_total_limit 2 \
--logging_steps 200 \
--output_dir ./checkpoints/fakeclue_0917 \
--warmup_ratio 0.05 \
--dataloader_num_workers 4 \
--attn_impl flash_attention_2 \
--deepspeed zero2 \
--system "You are a helpful assistant for AI-generated image detection. Inspect the image and decide if it is real or fake.\nReasoning mode:\n- If the image shows **obvious AI-generation traces** and is easy to detect, give no think steps.\n- Otherwise, provide **careful, step-by-step** reasoning. If the image is easy to detect, output no think steps: <think>\n\n</think>\n\nreal or fake. If the user requests explain the think or the image is hard to detect, output the think steps: \n<think>\n[Your reasoning here]\n</think>\n\nreal or fake." \
--response_prefix "<think>\n" \
--max_pixels 12845056 \
--gradient_checkpointing true
